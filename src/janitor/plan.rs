//! Pure decisions: which events ask for work, which stored variants are stale, which paths
//! to invalidate and in which order they are paid for. No I/O.

use std::collections::{BTreeMap, BTreeSet};

pub use super::event::{decode_event_key, Change, ObjectEvent};
use crate::spec::{is_image_ext, parse_variant_key, Key};
use crate::store::Meta;
use crate::Config;

/// What one event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A variant key (our own writes and deletes: the recursion guard), or not an image.
    Ignore(&'static str),
    /// The `.purge` trigger under the prefix: an operator asks to invalidate everything.
    PurgeAll,
    /// An original changed: find its stored variants, delete the stale ones, invalidate
    /// them and it.
    Clean { original: Key },
}

/// Name of the purge trigger object, under the prefix.
pub const PURGE_TRIGGER: &str = ".purge";

pub fn action(ev: &ObjectEvent, cfg: &Config) -> Action {
    let prefix = cfg.prefix.trim_start_matches('/');
    if !ev.key.as_str().starts_with(prefix) {
        return Action::Ignore("outside the prefix");
    }
    if ev.key.as_str() == format!("{prefix}{PURGE_TRIGGER}") {
        return if ev.change == Change::Created { Action::PurgeAll } else { Action::Ignore("purge trigger removed") };
    }
    if parse_variant_key(&ev.key, cfg).is_some() {
        return Action::Ignore("variant key");
    }
    if !ev.key.extension().is_some_and(|e| is_image_ext(&e)) {
        return Action::Ignore("not an image");
    }
    Action::Clean { original: ev.key.clone() }
}

/// What a batch of events asks for, deduplicated: several events for one original (a
/// redelivery, an overwrite then a delete) are one look at what is stored now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Work {
    /// bucket → originals to clean.
    pub originals: BTreeMap<String, BTreeSet<Key>>,
    /// The `.purge` trigger was uploaded.
    pub purge: bool,
    /// Where the invalidation ledger lives: the first acted-on event's bucket.
    pub ledger_bucket: Option<String>,
    /// Identities of the events acted on (bucket, key and sequencer, version or ETag): what
    /// makes this batch's CallerReference differ from another change's with the same paths.
    pub event_ids: BTreeSet<String>,
}

pub fn work(events: &[ObjectEvent], cfg: &Config) -> Work {
    let mut w = Work::default();
    for ev in events {
        match action(ev, cfg) {
            Action::Ignore(why) => {
                tracing::debug!(key = %ev.key, why, "ignored");
                continue;
            }
            Action::PurgeAll => w.purge = true,
            Action::Clean { original } => {
                w.originals.entry(ev.bucket.clone()).or_default().insert(original);
            }
        }
        w.ledger_bucket.get_or_insert_with(|| ev.bucket.clone());
        let id = ev.sequencer.as_deref().or(ev.version_id.as_deref()).or(ev.etag.as_deref()).unwrap_or("");
        w.event_ids.insert(format!("{}/{}@{id}", ev.bucket, ev.key));
    }
    w
}

/// What the store holds now for one original: its own HEAD and its stored variants.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// `None`: the original is gone (deleted, or a delete marker is current).
    pub original: Option<Meta>,
    /// The allow-listed variant keys that exist, with their metadata.
    pub variants: Vec<(Key, Meta)>,
}

/// The decision for one original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleanup {
    pub bucket: String,
    pub original: Key,
    /// Stored variants to delete: made from another version of the original (or of
    /// unknown origin), or the original is gone.
    pub stale: Vec<Key>,
    /// Stored variants made from the current original (their recorded source ETag is its
    /// ETag): already right, so neither deleted nor invalidated. These are misses served
    /// after the change and before this janitor ran.
    pub fresh: Vec<Key>,
    /// Paths to invalidate: the original's own path first, then each stale variant's
    /// canonical path, then paths an earlier, failed attempt still owes.
    pub paths: Vec<String>,
    /// The original's ETag now (`None`: gone).
    pub current_etag: Option<String>,
}

/// Judge one original's stored variants. A variant is fresh only when it records the ETag
/// of the original as it is now; anything else is stale. The original's own path is always
/// invalidated: the event says it changed, and whether the CDN holds it is unknowable.
pub fn judge(bucket: &str, original: &Key, found: &Found, owed: &[String]) -> Cleanup {
    let current = found.original.as_ref().and_then(|m| m.etag.as_deref());
    let (mut fresh, mut stale) = (Vec::new(), Vec::new());
    for (k, m) in &found.variants {
        let made_from_current = current.is_some() && m.source_etag.as_deref() == current;
        if made_from_current {
            fresh.push(k.clone())
        } else {
            stale.push(k.clone())
        }
    }
    fresh.sort();
    stale.sort();
    let mut paths = vec![original.to_uri()];
    paths.extend(stale.iter().map(Key::to_uri));
    for p in owed {
        if !paths.contains(p) {
            paths.push(p.clone());
        }
    }
    let current_etag = current.map(str::to_string);
    Cleanup { bucket: bucket.to_string(), original: original.clone(), stale, fresh, paths, current_etag }
}

/// What a batch is for, as the CallerReference salt: the events' identities and the
/// originals' current ETags (events written by hand may carry no sequencer).
pub fn batch_salt(work: &Work, cleanups: &[Cleanup]) -> String {
    let mut parts: Vec<String> = work.event_ids.iter().cloned().collect();
    parts.extend(cleanups.iter().map(|c| format!("{}={}", c.original, c.current_etag.as_deref().unwrap_or("-"))));
    parts.join("\n")
}

/// A batch's paths, deduplicated, in the order the daily budget pays for them: every
/// original's own path first (what pages link to), then the variants' and owed paths.
pub fn batch_paths(cleanups: &[Cleanup]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let firsts = cleanups.iter().filter_map(|c| c.paths.first());
    let rests = cleanups.iter().flat_map(|c| c.paths.iter().skip(1));
    firsts.chain(rests).filter(|p| seen.insert(p.as_str())).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::all_variant_keys;

    fn ev(key: &str, change: Change) -> ObjectEvent {
        ObjectEvent::new("b", decode_event_key(key).unwrap(), change)
    }

    fn key(k: &str) -> Key {
        Key::new(k).unwrap()
    }

    fn meta(etag: &str, source: Option<&str>) -> Meta {
        Meta { etag: Some(etag.into()), source_etag: source.map(str::to_string), ..Meta::default() }
    }

    #[test]
    fn variant_events_do_nothing() {
        let cfg = Config::default();
        assert_eq!(action(&ev("image/100x100/a.jpg", Change::Removed), &cfg), Action::Ignore("variant key"));
        assert_eq!(action(&ev("image/100x100/webp/a.jpg", Change::Created), &cfg), Action::Ignore("variant key"));
        assert_eq!(work(&[ev("image/100x100/a.jpg", Change::Created)], &cfg), Work::default());
        assert_eq!(action(&ev("other/a.jpg", Change::Removed), &cfg), Action::Ignore("outside the prefix"));
        assert_eq!(action(&ev("image/notes.txt", Change::Removed), &cfg), Action::Ignore("not an image"));
        assert_eq!(action(&ev("image/.purge", Change::Removed), &cfg), Action::Ignore("purge trigger removed"));
    }

    #[test]
    fn events_for_one_original_are_one_piece_of_work() {
        let cfg = Config::default();
        let w = work(
            &[
                ev("image/a.jpg", Change::Created),
                ev("image/a.jpg", Change::Removed),
                ev("image/b.jpg", Change::Removed),
                ev("image/.purge", Change::Created),
            ],
            &cfg,
        );
        assert_eq!(w.originals["b"], [key("image/a.jpg"), key("image/b.jpg")].into());
        assert!(w.purge);
        assert_eq!(w.ledger_bucket.as_deref(), Some("b"));
        // Two changes of one image are two identities: the same paths are not "already done".
        let mut a = ev("image/a.jpg", Change::Created);
        a.sequencer = Some("0A".into());
        let mut b = a.clone();
        b.sequencer = Some("0B".into());
        assert_ne!(work(&[a.clone()], &cfg).event_ids, work(&[b], &cfg).event_ids);
        assert_eq!(work(&[a.clone()], &cfg).event_ids, work(&[a.clone(), a], &cfg).event_ids);
    }

    #[test]
    fn stale_is_what_was_made_from_another_original() {
        let orig = key("image/p/a.jpg");
        let found = Found {
            original: Some(meta("\"new\"", None)),
            variants: vec![
                (key("image/p/100x100/a.jpg"), meta("\"v1\"", Some("\"old\""))),
                (key("image/p/200x200/a.jpg"), meta("\"v2\"", Some("\"new\""))),
                (key("image/p/100x100/webp/a.jpg"), meta("\"v3\"", None)),
            ],
        };
        let c = judge("b", &orig, &found, &[]);
        assert_eq!(c.stale, vec![key("image/p/100x100/a.jpg"), key("image/p/100x100/webp/a.jpg")]);
        assert_eq!(c.fresh, vec![key("image/p/200x200/a.jpg")]);
        assert_eq!(c.paths, vec!["/image/p/a.jpg", "/image/p/100x100/a.jpg", "/image/p/100x100/webp/a.jpg"]);
    }

    #[test]
    fn a_gone_original_makes_every_variant_stale() {
        let found =
            Found { original: None, variants: vec![(key("image/100x100/a.jpg"), meta("\"v\"", Some("\"e\"")))] };
        let c = judge("b", &key("image/a.jpg"), &found, &[]);
        assert_eq!(c.stale, vec![key("image/100x100/a.jpg")]);
        // Nothing stored: only the original's own path.
        let c = judge("b", &key("image/a.jpg"), &Found::default(), &[]);
        assert_eq!((c.stale.len(), c.paths.clone()), (0, vec!["/image/a.jpg".to_string()]));
        // An original without an ETag cannot vouch for any variant.
        let found =
            Found { original: Some(Meta::default()), variants: vec![(key("image/100x100/a.jpg"), Meta::default())] };
        assert_eq!(judge("b", &key("image/a.jpg"), &found, &[]).stale.len(), 1);
    }

    #[test]
    fn owed_paths_are_paid_again_once() {
        let owed = vec!["/image/100x100/a.jpg".to_string(), "/image/a.jpg".to_string()];
        let c = judge("b", &key("image/a.jpg"), &Found::default(), &owed);
        assert_eq!(c.paths, vec!["/image/a.jpg", "/image/100x100/a.jpg"]);
    }

    #[test]
    fn batch_pays_for_originals_first_and_never_for_siblings() {
        let cfg = Config::default();
        let found = |o: &Key| Found {
            original: Some(meta("\"n\"", None)),
            variants: all_variant_keys(o, &cfg)
                .into_iter()
                .take(2)
                .map(|k| (k, meta("\"v\"", Some("\"o\""))))
                .collect(),
        };
        let (a, b) = (key("image/p/a.jpg"), key("image/p/b.jpg"));
        let cs = [judge("b", &a, &found(&a), &[]), judge("b", &b, &found(&b), &[])];
        let paths = batch_paths(&cs);
        assert_eq!(paths.len(), 6);
        assert_eq!(&paths[..2], ["/image/p/a.jpg", "/image/p/b.jpg"]);
        // Every path is one of the two originals' own: no wildcard, no sibling.
        assert!(paths.iter().all(|p| !p.contains('*') && (p.ends_with("/a.jpg") || p.ends_with("/b.jpg"))));
        assert_eq!(batch_paths(&[cs[0].clone(), cs[0].clone()]).len(), 3);
    }
}
