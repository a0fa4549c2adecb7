//! S3 object events as AWS delivers them, to one `ObjectEvent` each. Pure; no I/O.
//!
//! Three shapes reach the janitor:
//! - S3 event notifications (`{"Records": [{"eventName": "ObjectCreated:Put", "s3": ...}]}`),
//!   directly, in an SQS message body, or inside an SNS notification
//!   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>);
//!   `eTag`, `versionId`, `sequencer` and `size` are optional (a delete has no `eTag` or
//!   `size`; an unversioned bucket has no `versionId`);
//! - EventBridge events (`"detail-type": "Object Created"` / `"Object Deleted"`,
//!   `"source": "aws.s3"`, <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>);
//! - the `s3:TestEvent` S3 sends when a notification is configured.
//!
//! Keys are URL-encoded form values in both shapes (`+` is a space, `%2B` a plus), which is
//! how AWS's own Powertools decodes them (`unquote_plus`).

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;

use crate::spec::{Key, SpecError};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Any `ObjectCreated:*` (Put, Post, Copy, CompleteMultipartUpload): new or overwritten.
    Created,
    /// `ObjectRemoved:Delete`, `ObjectRemoved:DeleteMarkerCreated`, lifecycle expirations.
    Removed,
}

/// One S3 object event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub bucket: String,
    pub key: Key,
    pub change: Change,
    /// The version the event is about, in a versioned bucket.
    pub version_id: Option<String>,
    /// The new object's ETag (created events only; unquoted, as events carry it).
    pub etag: Option<String>,
    /// Orders events for one key (hex, compare after left-padding to equal length).
    pub sequencer: Option<String>,
}

impl ObjectEvent {
    /// A bare event, as tests and operators write them.
    pub fn new(bucket: impl Into<String>, key: Key, change: Change) -> Self {
        ObjectEvent { bucket: bucket.into(), key, change, version_id: None, etag: None, sequencer: None }
    }
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not an S3 notification, SNS notification or EventBridge S3 event")]
    UnknownShape,
    #[error("an S3 event without {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Key(#[from] SpecError),
}

/// S3 event keys are URL-encoded form values: `+` is a space, then percent escapes.
pub fn decode_event_key(raw: &str) -> Result<Key, SpecError> {
    let plus = raw.replace('+', " ");
    let decoded = percent_decode_str(&plus).decode_utf8().map_err(|_| SpecError::BadKey("event key is not UTF-8"))?;
    Key::new(decoded.into_owned())
}

/// `ObjectCreated:Put` (or `s3:ObjectCreated:Put`, as some S3-compatible servers spell it)
/// to a change; `None` for events the janitor does not act on (restores, replication,
/// tagging, ACLs, lifecycle transitions).
pub fn change_of_event_name(name: &str) -> Option<Change> {
    let name = name.strip_prefix("s3:").unwrap_or(name);
    if name.starts_with("ObjectCreated:") {
        Some(Change::Created)
    } else if name.starts_with("ObjectRemoved:") || name.starts_with("LifecycleExpiration:") {
        Some(Change::Removed)
    } else {
        None
    }
}

/// An EventBridge `detail-type` to a change (`Object Deleted` covers permanent deletes,
/// delete markers and lifecycle expirations alike).
pub fn change_of_detail_type(detail_type: &str) -> Option<Change> {
    match detail_type {
        "Object Created" => Some(Change::Created),
        "Object Deleted" => Some(Change::Removed),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_name: Option<String>,
    s3: Option<Entity>,
    /// An SNS-wrapped notification (S3 → SNS → Lambda).
    #[serde(rename = "Sns")]
    sns: Option<SnsMessage>,
}

#[derive(Deserialize)]
struct SnsMessage {
    #[serde(rename = "Message")]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Entity {
    bucket: Option<Named>,
    object: Option<Object>,
}

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Object {
    key: Option<String>,
    #[serde(rename = "eTag", alias = "etag")]
    etag: Option<String>,
    #[serde(rename = "versionId", alias = "version-id")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

#[derive(Deserialize)]
struct Detail {
    bucket: Option<Named>,
    object: Option<Object>,
}

fn event(bucket: Option<Named>, object: Option<Object>, change: Change) -> Result<ObjectEvent, EventError> {
    let bucket = bucket.and_then(|b| b.name).filter(|b| !b.is_empty()).ok_or(EventError::Missing("a bucket"))?;
    let o = object.ok_or(EventError::Missing("an object"))?;
    let key = decode_event_key(o.key.as_deref().ok_or(EventError::Missing("a key"))?)?;
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(ObjectEvent {
        bucket,
        key,
        change,
        version_id: nonempty(o.version_id),
        etag: nonempty(o.etag),
        sequencer: nonempty(o.sequencer),
    })
}

/// The object events in one payload (a Lambda event, an SQS body or an SNS message), in
/// order. Events the janitor does not act on are left out; an empty list is no error.
pub fn object_events(v: &Value) -> Result<Vec<ObjectEvent>, EventError> {
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    // An SNS notification delivered to SQS without raw message delivery.
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let msg = v.get("Message").and_then(Value::as_str).ok_or(EventError::Missing("an SNS Message"))?;
        return object_events_of_str(msg);
    }
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        let mut out = Vec::new();
        for r in records {
            let r: Record = serde_json::from_value(r.clone()).map_err(|e| EventError::Json(e.to_string()))?;
            if let Some(msg) = r.sns.and_then(|s| s.message) {
                out.extend(object_events_of_str(&msg)?);
                continue;
            }
            let Some(change) = r.event_name.as_deref().and_then(change_of_event_name) else { continue };
            let s3 = r.s3.ok_or(EventError::Missing("an s3 entity"))?;
            out.push(event(s3.bucket, s3.object, change)?);
        }
        return Ok(out);
    }
    if v.get("source").and_then(Value::as_str) == Some("aws.s3") {
        let Some(change) = v.get("detail-type").and_then(Value::as_str).and_then(change_of_detail_type) else {
            return Ok(Vec::new());
        };
        let d: Detail = serde_json::from_value(v.get("detail").cloned().unwrap_or(Value::Null))
            .map_err(|e| EventError::Json(e.to_string()))?;
        return Ok(vec![event(d.bucket, d.object, change)?]);
    }
    Err(EventError::UnknownShape)
}

/// As [`object_events`], from JSON text.
pub fn object_events_of_str(text: &str) -> Result<Vec<ObjectEvent>, EventError> {
    let v: Value = serde_json::from_str(text).map_err(|e| EventError::Json(e.to_string()))?;
    object_events(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Vec<ObjectEvent> {
        let p = format!("{}/fixtures/events/s3/{name}", env!("CARGO_MANIFEST_DIR"));
        object_events_of_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    #[test]
    fn event_keys_are_form_decoded() {
        assert_eq!(decode_event_key("image/my+cat%C3%BC.jpg").unwrap().as_str(), "image/my catü.jpg");
        assert_eq!(decode_event_key("image/a%2Bb.jpg").unwrap().as_str(), "image/a+b.jpg");
        assert_eq!(decode_event_key("image/c%2B%2B+%281%29.jpg").unwrap().as_str(), "image/c++ (1).jpg");
        assert!(decode_event_key("image/%ff.jpg").is_err());
        assert!(decode_event_key("image/%2e%2e/x.jpg").is_err());
    }

    #[test]
    fn s3_put_with_every_field() {
        let e = golden("put.json");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].bucket, "amzn-s3-demo-bucket");
        assert_eq!(e[0].key.as_str(), "image/products/coffee beans+1.jpg");
        assert_eq!(e[0].change, Change::Created);
        assert_eq!(e[0].etag.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(e[0].version_id.as_deref(), Some("096fKKXTRTtl3on89fVO.nfljtsv6qko"));
        assert_eq!(e[0].sequencer.as_deref(), Some("0A1B2C3D4E5F678901"));
    }

    #[test]
    fn s3_deletes_without_optional_fields() {
        // A plain delete: no eTag, no size, no versionId (unversioned bucket).
        let e = golden("delete.json");
        assert_eq!((e[0].change, e[0].etag.as_deref(), e[0].version_id.as_deref()), (Change::Removed, None, None));
        assert_eq!(e[0].key.as_str(), "image/products/coffee.jpg");
        // A delete marker in a versioned bucket: the marker's version id.
        let m = golden("delete-marker.json");
        assert_eq!(m[0].change, Change::Removed);
        assert_eq!(m[0].version_id.as_deref(), Some("ZqKMKY_EgS0dOvCQu4j_7Hj0r1Lrbc4x"));
    }

    #[test]
    fn eventbridge_created_and_deleted() {
        let c = golden("eventbridge-object-created.json");
        assert_eq!(c[0].change, Change::Created);
        assert_eq!(c[0].key.as_str(), "image/products/coffee.jpg");
        assert_eq!(c[0].etag.as_deref(), Some("b1946ac92492d2347c6235b4d2611184"));
        assert_eq!(c[0].version_id.as_deref(), Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"));
        let d = golden("eventbridge-object-deleted.json");
        assert_eq!((d[0].change, d[0].bucket.as_str()), (Change::Removed, "amzn-s3-demo-bucket1"));
        assert_eq!(d[0].key.as_str(), "image/products/tea pot.jpg");
        // Restores, tag changes and the like are not ours.
        let other = serde_json::json!({"source": "aws.s3", "detail-type": "Object Restore Completed", "detail": {}});
        assert_eq!(object_events(&other).unwrap(), vec![]);
    }

    #[test]
    fn test_events_sns_envelopes_and_junk() {
        assert_eq!(object_events_of_str(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).unwrap(), vec![]);
        let inner =
            std::fs::read_to_string(format!("{}/fixtures/events/s3/put.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let sns = serde_json::json!({"Type": "Notification", "Message": inner});
        assert_eq!(object_events(&sns).unwrap(), golden("put.json"));
        let sns_lambda = serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": inner}}]});
        assert_eq!(object_events(&sns_lambda).unwrap(), golden("put.json"));
        // Events we do not act on are skipped, not errors.
        let restore = r#"{"Records":[{"eventName":"ObjectRestore:Completed","s3":{}}]}"#;
        assert_eq!(object_events_of_str(restore).unwrap(), vec![]);
        assert!(matches!(object_events_of_str("{not json"), Err(EventError::Json(_))));
        assert_eq!(object_events_of_str(r#"{"hello": 1}"#), Err(EventError::UnknownShape));
        let no_key = r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{}}}]}"#;
        assert_eq!(object_events_of_str(no_key), Err(EventError::Missing("a key")));
        assert_eq!(change_of_event_name("s3:ObjectRemoved:DeleteMarkerCreated"), Some(Change::Removed));
        assert_eq!(change_of_event_name("LifecycleExpiration:Delete"), Some(Change::Removed));
        assert_eq!(change_of_event_name("LifecycleTransition"), None);
    }
}
