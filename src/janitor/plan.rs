//! Pure planning: S3 notifications in, S3 deletes and CDN paths out. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use percent_encoding::percent_decode_str;

use crate::spec::{all_variant_keys, is_image_ext, parse_variant_key, Key, SpecError};
use crate::Config;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Removed,
}

/// One S3 notification, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub bucket: String,
    pub key: Key,
    pub change: Change,
}

/// What one event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A variant key (our own writes and deletes: the recursion guard), or not an image.
    Ignore(&'static str),
    /// The `.purge` trigger under the prefix: invalidate everything under it.
    PurgeAll,
    /// An original changed: delete its variants, invalidate them and it.
    Clean { original: Key },
}

/// S3 event keys are URL-encoded form values: `+` is a space, then percent escapes.
pub fn decode_event_key(raw: &str) -> Result<Key, SpecError> {
    let plus = raw.replace('+', " ");
    let decoded = percent_decode_str(&plus).decode_utf8().map_err(|_| SpecError::BadKey("event key is not UTF-8"))?;
    Key::new(decoded.into_owned())
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

/// Everything a batch of events asks for, deduplicated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// bucket → variant keys to delete.
    pub deletes: BTreeMap<String, BTreeSet<Key>>,
    /// Canonical URI paths to invalidate.
    pub paths: BTreeSet<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.deletes.is_empty() && self.paths.is_empty()
    }
}

pub fn plan(events: &[ObjectEvent], cfg: &Config) -> Plan {
    let mut p = Plan::default();
    for ev in events {
        match action(ev, cfg) {
            Action::Ignore(_) => {}
            Action::PurgeAll => {
                p.paths.insert(format!("{}*", cfg.prefix));
            }
            Action::Clean { original } => {
                let variants = all_variant_keys(&original, cfg);
                p.paths.insert(original.to_uri());
                p.paths.extend(variants.iter().map(Key::to_uri));
                p.deletes.entry(ev.bucket.clone()).or_default().extend(variants);
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(key: &str, change: Change) -> ObjectEvent {
        ObjectEvent { bucket: "b".into(), key: decode_event_key(key).unwrap(), change }
    }

    #[test]
    fn event_keys_are_form_decoded() {
        assert_eq!(decode_event_key("image/my+cat%C3%BC.jpg").unwrap().as_str(), "image/my catü.jpg");
        assert_eq!(decode_event_key("image/a%2Bb.jpg").unwrap().as_str(), "image/a+b.jpg");
        assert!(decode_event_key("image/%ff.jpg").is_err());
        assert!(decode_event_key("image/%2e%2e/x.jpg").is_err());
    }

    #[test]
    fn variant_events_do_nothing() {
        let cfg = Config::default();
        assert_eq!(action(&ev("image/100x100/a.jpg", Change::Removed), &cfg), Action::Ignore("variant key"));
        assert_eq!(action(&ev("image/100x100/webp/a.jpg", Change::Created), &cfg), Action::Ignore("variant key"));
        assert!(plan(&[ev("image/100x100/a.jpg", Change::Created)], &cfg).is_empty());
        assert_eq!(action(&ev("other/a.jpg", Change::Removed), &cfg), Action::Ignore("outside the prefix"));
        assert_eq!(action(&ev("image/notes.txt", Change::Removed), &cfg), Action::Ignore("not an image"));
    }

    #[test]
    fn original_change_plans_all_variants_once() {
        let cfg = Config::default();
        let e = ev("image/a.jpg", Change::Removed);
        let p = plan(&[e.clone(), e], &cfg);
        let dels = &p.deletes["b"];
        assert_eq!(dels.len(), all_variant_keys(&Key::new("image/a.jpg").unwrap(), &cfg).len());
        assert!(dels.iter().all(|k| parse_variant_key(k, &cfg).is_some()));
        assert!(p.paths.contains("/image/a.jpg") && p.paths.contains("/image/100x100/a.jpg"));
        assert_eq!(p.paths.len(), dels.len() + 1);
    }

    #[test]
    fn purge_trigger() {
        let cfg = Config::default();
        let p = plan(&[ev("image/.purge", Change::Created)], &cfg);
        assert_eq!(p.paths.into_iter().collect::<Vec<_>>(), vec!["/image/*"]);
        assert!(p.deletes.is_empty());
    }
}
