//! CDN invalidation: the `Invalidator` trait (CloudFront, or the local edge's cache) and
//! the pure planning of invalidation batches within CloudFront's limits
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Invalidation.html>):
//! at most 3,000 paths or 15 wildcard paths in progress per distribution; a wildcard path
//! is billed as one path; the first 1,000 paths a month are free.

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

/// One CreateInvalidation request: deduplicated, sorted paths and a CallerReference derived
/// from them, so a redelivered batch names the same invalidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub paths: Vec<String>,
    pub caller_reference: String,
}

impl Batch {
    pub fn new(paths: impl IntoIterator<Item = String>) -> Self {
        let paths: Vec<String> = paths.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut h = Sha256::new();
        for p in &paths {
            h.update(p.as_bytes());
            h.update(b"\n");
        }
        let caller_reference = format!("edge-resize-{}", &hex::encode(h.finalize())[..32]);
        Batch { paths, caller_reference }
    }
}

/// Turn canonical paths into one batch within CloudFront's limits: more than
/// `wildcard_after` paths under one directory become `/{dir}/*`; if that still leaves
/// more than 15 wildcards or 3,000 paths, everything under `prefix` becomes `{prefix}*`.
pub fn plan_batch(paths: &[String], prefix: &str, wildcard_after: usize) -> Option<Batch> {
    let unique: BTreeSet<&String> = paths.iter().collect();
    if unique.is_empty() {
        return None;
    }
    if unique.iter().any(|p| p.ends_with('*') && p.as_str() == format!("{prefix}*")) {
        return Some(Batch::new([format!("{prefix}*")]));
    }
    let mut by_dir: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in unique {
        // The original's directory: the part before the first variant segment, or its own.
        let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
        let dir = original_dir(dir);
        by_dir.entry(dir.to_string()).or_default().push(p.clone());
    }
    let mut out = Vec::new();
    let mut wildcards = 0;
    for (dir, ps) in by_dir {
        if ps.len() > wildcard_after {
            out.push(format!("{dir}/*"));
            wildcards += 1;
        } else {
            out.extend(ps);
        }
    }
    if wildcards > MAX_WILDCARDS || out.len() > MAX_PATHS {
        return Some(Batch::new([format!("{prefix}*")]));
    }
    Some(Batch::new(out))
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
        let a =
            plan_batch(&["/image/a.jpg".into(), "/image/100x100/a.jpg".into(), "/image/a.jpg".into()], "/image/", 10)
                .unwrap();
        assert_eq!(a.paths, vec!["/image/100x100/a.jpg", "/image/a.jpg"]);
        let b = plan_batch(&["/image/100x100/a.jpg".into(), "/image/a.jpg".into()], "/image/", 10).unwrap();
        assert_eq!(a.caller_reference, b.caller_reference);
        let c = plan_batch(&["/image/b.jpg".into()], "/image/", 10).unwrap();
        assert_ne!(a.caller_reference, c.caller_reference);
        assert!(plan_batch(&[], "/image/", 10).is_none());
    }

    #[test]
    fn many_paths_in_a_dir_become_one_wildcard() {
        let mut p = paths(20, "/image/cats");
        p.push("/image/cats/a.jpg".into());
        p.push("/image/dogs/100x100/b.jpg".into());
        let b = plan_batch(&p, "/image/", 10).unwrap();
        assert_eq!(b.paths, vec!["/image/cats/*", "/image/dogs/100x100/b.jpg"]);
    }

    #[test]
    fn too_many_wildcards_or_paths_purge_the_prefix() {
        let mut p = Vec::new();
        for d in 0..16 {
            p.extend(paths(11, &format!("/image/d{d}")));
        }
        assert_eq!(plan_batch(&p, "/image/", 10).unwrap().paths, vec!["/image/*"]);
        let p: Vec<String> = (0..3001).map(|i| format!("/image/d{i}/x.jpg")).collect();
        assert_eq!(plan_batch(&p, "/image/", 10).unwrap().paths, vec!["/image/*"]);
    }
}
