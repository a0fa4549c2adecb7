//! Which variants of an original exist: HeadObject on each allow-listed candidate key,
//! a bounded number at a time, through the `Store` trait.
//!
//! Why HEAD and not a listing: an original's variants are spread over one directory per
//! size/fit/quality segment (`dir/{segment}/file`, `dir/{segment}/{format}/file`), so a
//! ListObjectsV2 that finds them must list the whole directory, every sibling's variants
//! included: its cost grows with the directory (1,000 keys a page), not with the image.
//! The candidates are a finite set fixed by the allow-list (135 with the defaults), so the
//! HEADs cost the same for a directory of ten images or of a million. S3 bills a HEAD as a
//! GET ($0.0004 per 1,000, <https://aws.amazon.com/s3/pricing/>) and serves at least
//! 5,500 of them a second per prefix
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html>).
//! A HEAD also returns the variant's recorded source ETag, which a listing does not.

use std::collections::BTreeSet;

use futures_util::stream::{self, StreamExt};

use super::plan::Found;
use crate::spec::{all_variant_keys, Key};
use crate::store::{Store, StoreError};
use crate::Config;

/// What exists for each original, and how many HEADs it took.
#[derive(Debug, Default)]
pub struct Lookup {
    pub found: Vec<(Key, Found)>,
    pub heads: usize,
}

/// HEAD each original and each of its allow-listed variant keys, `cfg.head_concurrency` at
/// a time. Any failed HEAD fails the lookup: a janitor that cannot see must not guess.
pub async fn find<S: Store>(store: &S, originals: &BTreeSet<Key>, cfg: &Config) -> Result<Lookup, StoreError> {
    // (index of the original, key, whether it is the original itself)
    let mut jobs: Vec<(usize, Key, bool)> = Vec::new();
    for (i, o) in originals.iter().enumerate() {
        jobs.push((i, o.clone(), true));
        jobs.extend(all_variant_keys(o, cfg).into_iter().map(|k| (i, k, false)));
    }
    let heads = jobs.len();
    let results: Vec<_> = stream::iter(jobs)
        .map(|(i, k, is_original)| async move {
            let meta = store.head(&k).await;
            (i, k, is_original, meta)
        })
        .buffer_unordered(cfg.head_concurrency.max(1))
        .collect()
        .await;
    let mut found: Vec<(Key, Found)> = originals.iter().map(|o| (o.clone(), Found::default())).collect();
    for (i, k, is_original, meta) in results {
        let meta = meta?;
        let f = &mut found[i].1;
        match (is_original, meta) {
            (true, m) => f.original = m,
            (false, Some(m)) => f.variants.push((k, m)),
            (false, None) => {}
        }
    }
    for (_, f) in &mut found {
        f.variants.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(Lookup { found, heads })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;

    use crate::store::{Meta, Object, Stored, VariantMeta};

    /// A store that holds a few keys and records how many HEADs are in flight at once.
    #[derive(Default)]
    struct Counting {
        keys: Vec<Key>,
        fail: Option<Key>,
        in_flight: AtomicUsize,
        peak: AtomicUsize,
        seen: Mutex<Vec<Key>>,
    }

    impl Store for Counting {
        async fn get(&self, k: &Key, _max: u64) -> Result<Object, StoreError> {
            Err(StoreError::NotFound(k.to_string()))
        }
        async fn put_variant(&self, _k: &Key, _b: Bytes, _m: &VariantMeta<'_>) -> Result<Stored, StoreError> {
            unreachable!("the janitor's lookup never writes")
        }
        async fn delete_variants(&self, _keys: &[Key]) -> Result<Vec<Key>, StoreError> {
            unreachable!("the janitor's lookup never deletes")
        }
        async fn head(&self, k: &Key) -> Result<Option<Meta>, StoreError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.seen.lock().unwrap().push(k.clone());
            if self.fail.as_ref() == Some(k) {
                return Err(StoreError::Forbidden(k.to_string()));
            }
            Ok(self.keys.contains(k).then(|| Meta { etag: Some(format!("\"{k}\"")), ..Meta::default() }))
        }
    }

    fn key(k: &str) -> Key {
        Key::new(k).unwrap()
    }

    #[tokio::test]
    async fn heads_every_candidate_of_each_original_and_nothing_else() {
        let cfg = Config::default();
        let originals: BTreeSet<Key> = [key("image/p/a.jpg"), key("image/p/b.png")].into();
        let store = Arc::new(Counting {
            keys: vec![key("image/p/a.jpg"), key("image/p/100x100/a.jpg"), key("image/p/200x200/webp/b.png")],
            ..Counting::default()
        });
        let l = find(store.as_ref(), &originals, &cfg).await.unwrap();
        let per_original = all_variant_keys(&key("image/p/a.jpg"), &cfg).len();
        // (5 boxes x 3 fits + 32 srcset widths and heights, which take no fit) x 3 qualities x 4 formats
        assert_eq!(per_original, (5 * 3 + 32) * 3 * 4);
        assert_eq!(l.heads, 2 * (per_original + 1));
        assert_eq!(store.seen.lock().unwrap().len(), l.heads);
        let peak = store.peak.load(Ordering::SeqCst);
        assert!(peak <= cfg.head_concurrency && peak > 1, "peak {peak}");
        let (a, b) = (&l.found[0].1, &l.found[1].1);
        assert!(a.original.is_some() && b.original.is_none());
        assert_eq!(a.variants.iter().map(|v| v.0.clone()).collect::<Vec<_>>(), vec![key("image/p/100x100/a.jpg")]);
        assert_eq!(b.variants.len(), 1);
    }

    #[tokio::test]
    async fn one_failed_head_fails_the_lookup() {
        let cfg = Config { head_concurrency: 1, ..Config::default() };
        let store = Counting { fail: Some(key("image/300x300/a.jpg")), ..Counting::default() };
        let r = find(&store, &[key("image/a.jpg")].into(), &cfg).await;
        assert_eq!(r.unwrap_err(), StoreError::Forbidden("image/300x300/a.jpg".into()));
        assert_eq!(store.peak.load(Ordering::SeqCst), 1);
    }
}
