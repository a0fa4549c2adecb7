//! CDN invalidation: the `Invalidator` trait (CloudFront, or the local edge's cache) and
//! the pure planning of invalidation batches within CloudFront's limits
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Invalidation.html>):
//! at most 3,000 paths or 15 wildcard paths in progress per distribution; a wildcard path
//! is billed as one path; the first 1,000 paths a month are free, then $0.005 a path
//! (<https://aws.amazon.com/cloudfront/pricing/>).

#[cfg(feature = "aws")]
mod cloudfront;
#[cfg(feature = "aws")]
mod local;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use sha2::{Digest, Sha256};

#[cfg(feature = "aws")]
pub use cloudfront::CloudFrontInvalidator;
#[cfg(feature = "aws")]
pub use local::LocalInvalidator;

/// CloudFront's limit on paths in progress.
pub const MAX_PATHS: usize = 3000;
/// CloudFront's limit on wildcard paths in progress.
pub const MAX_WILDCARDS: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CdnError {
    #[error("invalidation rejected: {0}")]
    Rejected(String),
    #[error("CDN unavailable: {0}")]
    Unavailable(String),
}

/// One CreateInvalidation request: deduplicated, sorted paths and a CallerReference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub paths: Vec<String>,
    /// Derived from the paths and `salt` (what the batch is for: the events' sequencers and
    /// the originals' ETags), so a redelivered batch names the same invalidation while a
    /// second change of the same image the same day is a new one. CloudFront treats a
    /// repeated CallerReference as the same request:
    /// <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_InvalidationBatch.html>.
    pub caller_reference: String,
}

impl Batch {
    pub fn new(paths: impl IntoIterator<Item = String>, salt: &str) -> Self {
        let paths: Vec<String> = paths.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut h = Sha256::new();
        h.update(salt.as_bytes());
        h.update(b"\n\n");
        for p in &paths {
            h.update(p.as_bytes());
            h.update(b"\n");
        }
        let caller_reference = format!("edge-resize-{}", &hex::encode(h.finalize())[..32]);
        Batch { paths, caller_reference }
    }
}

/// Opt-in wildcards (`wildcard_after`, off by default): more than `after` paths under one
/// original directory become `/{dir}/*`, at most [`MAX_WILDCARDS`] of them; other
/// directories keep their exact paths. Without it the paths are returned as they are:
/// a wildcard evicts every other image's variants in that directory from every edge.
pub fn collapse(paths: &[String], after: Option<usize>) -> Vec<String> {
    let Some(after) = after else { return paths.to_vec() };
    let mut by_dir: BTreeMap<&str, usize> = BTreeMap::new();
    for p in paths {
        *by_dir.entry(dir_of(p)).or_default() += 1;
    }
    let wild: BTreeSet<&str> =
        by_dir.into_iter().filter(|(_, n)| *n > after).map(|(d, _)| d).take(MAX_WILDCARDS).collect();
    let mut out = Vec::new();
    for p in paths {
        let d = dir_of(p);
        let item = if wild.contains(d) { format!("{d}/*") } else { p.clone() };
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The original's directory of a canonical path: a variant path and its original's group
/// under the same directory.
fn dir_of(path: &str) -> &str {
    original_dir(path.rsplit_once('/').map_or("", |(d, _)| d))
}

/// Strip trailing variant-looking segments (`100x100`, `100x100-inside`, `webp`) so a
/// variant path and its original group under the same directory.
fn original_dir(dir: &str) -> &str {
    let mut d = dir;
    loop {
        let Some((parent, last)) = d.rsplit_once('/') else { return d };
        let variantish = crate::spec::Format::parse(last).is_some()
            || last.split('-').next().is_some_and(|s| {
                s.split_once('x').is_some_and(|(w, h)| {
                    !w.is_empty()
                        && !h.is_empty()
                        && w.bytes().all(|b| b.is_ascii_digit())
                        && h.bytes().all(|b| b.is_ascii_digit())
                })
            });
        if !variantish {
            return d;
        }
        d = parent;
    }
}

/// Something that can drop cached paths.
pub trait Invalidator: Send + Sync {
    /// Create one invalidation; returns its id.
    fn invalidate(&self, batch: &Batch) -> impl Future<Output = Result<String, CdnError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(n: usize, dir: &str) -> Vec<String> {
        (0..n).map(|i| format!("{dir}/{}x{}/a.jpg", 100 + i, 100 + i)).collect()
    }

    #[test]
    fn dedup_and_reference_is_content_derived() {
        let a = Batch::new(["/image/a.jpg".into(), "/image/100x100/a.jpg".into(), "/image/a.jpg".into()], "s1");
        assert_eq!(a.paths, vec!["/image/100x100/a.jpg", "/image/a.jpg"]);
        let b = Batch::new(["/image/100x100/a.jpg".into(), "/image/a.jpg".into()], "s1");
        assert_eq!(a.caller_reference, b.caller_reference);
        assert_ne!(a.caller_reference, Batch::new(["/image/b.jpg".into()], "s1").caller_reference);
        // The same paths for another change are another invalidation.
        assert_ne!(a.caller_reference, Batch::new(b.paths.clone(), "s2").caller_reference);
    }

    #[test]
    fn exact_paths_unless_wildcards_are_asked_for() {
        let mut p = paths(20, "/image/cats");
        p.push("/image/cats/a.jpg".into());
        p.push("/image/dogs/100x100/b.jpg".into());
        assert_eq!(collapse(&p, None), p);
        assert_eq!(collapse(&p, Some(10)), vec!["/image/cats/*", "/image/dogs/100x100/b.jpg"]);
    }

    #[test]
    fn at_most_fifteen_wildcards_and_never_the_whole_prefix() {
        let mut p = Vec::new();
        for d in 0..16 {
            p.extend(paths(11, &format!("/image/d{d:02}")));
        }
        let out = collapse(&p, Some(10));
        assert_eq!(out.iter().filter(|p| p.ends_with('*')).count(), MAX_WILDCARDS);
        assert_eq!(out.len(), MAX_WILDCARDS + 11, "the 16th directory keeps its exact paths");
        assert!(!out.contains(&"/image/*".to_string()));
    }
}
