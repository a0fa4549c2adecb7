//! Serde types for CloudFront Lambda@Edge events and results, as AWS documents them
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-event-structure.html>).
//! aws_lambda_events has none. Fields CloudFront may add later are kept in `extra` so a
//! pass-through returns them unchanged, and null/absent fields are omitted on output:
//! CloudFront rejects a result with `null` where it expects a value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Headers: lower-case name → list of `{key, value}` (`key` is the original spelling).
pub type Headers = BTreeMap<String, Vec<Header>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Records")]
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub cf: Cf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cf {
    pub config: CfConfig,
    pub request: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfConfig {
    #[serde(default)]
    pub distribution_domain_name: String,
    #[serde(default)]
    pub distribution_id: String,
    pub event_type: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default)]
    pub headers: Headers,
    pub method: String,
    #[serde(default)]
    pub querystring: String,
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Origin {
    /// `bucket.s3.amazonaws.com` or `bucket.s3.region.amazonaws.com`.
    pub domain_name: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub path: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl S3Origin {
    /// The bucket named by the origin's domain (`{bucket}.s3[.{region}].amazonaws.com`).
    pub fn bucket(&self) -> Option<&str> {
        let d = self.domain_name.as_str();
        let i = d.find(".s3.").or_else(|| d.find(".s3-"))?;
        let b = &d[..i];
        (!b.is_empty()).then_some(b)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    Text,
    Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<BodyEncoding>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a viewer-request returns: the (rewritten) request, or a generated response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ViewerResult {
    Response(Response),
    Request(Request),
}

/// Headers a function must not add or change in a response it returns
/// (read-only and disallowed lists of the Lambda@Edge restrictions page).
pub const FORBIDDEN_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "trailer",
    "upgrade",
    "x-accel-buffering",
    "x-accel-charset",
    "x-accel-limit-rate",
    "x-accel-redirect",
    "x-cache",
    "x-forwarded-proto",
    "x-real-ip",
    "transfer-encoding",
    "via",
];

/// Name prefixes CloudFront disallows in a function's response ("X-Amz-Cf-*", "X-Edge-*",
/// and the X-Amzn-* headers it sets itself): an answer carrying one fails validation and
/// the viewer gets a 502.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/edge-function-restrictions-all.html>
pub const FORBIDDEN_RESPONSE_HEADER_PREFIXES: &[&str] = &["x-amz-cf-", "x-edge-", "x-amzn-"];

/// True when a function may not set `name` (any case) on a response it returns.
pub fn is_forbidden_response_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    FORBIDDEN_RESPONSE_HEADERS.contains(&lower.as_str())
        || FORBIDDEN_RESPONSE_HEADER_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// Set a header (replacing it), keeping CloudFront's lower-case map convention.
pub fn set_header(h: &mut Headers, name: &str, value: impl Into<String>) {
    let lower = name.to_ascii_lowercase();
    debug_assert!(!is_forbidden_response_header(&lower), "{name} may not be set by a Lambda@Edge function");
    h.insert(lower, vec![Header { key: Some(name.to_string()), value: value.into() }]);
}

/// First value of a header.
pub fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.first()).map(|h| h.value.as_str())
}

impl Response {
    pub fn new(status: u16, description: &str) -> Self {
        Response {
            status: status.to_string(),
            status_description: Some(description.to_string()),
            headers: Headers::new(),
            body: None,
            body_encoding: None,
            extra: Map::new(),
        }
    }

    /// Serialized size, which is what Lambda@Edge's generated-response limit counts.
    pub fn json_len(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disallowed_headers_by_name_and_prefix() {
        for h in ["X-Edge-Resize", "x-amz-cf-pop", "X-Amzn-RequestId", "Via", "transfer-encoding"] {
            assert!(is_forbidden_response_header(h), "{h}");
        }
        for h in ["X-Resize-Result", "Cache-Control", "ETag", "Server-Timing"] {
            assert!(!is_forbidden_response_header(h), "{h}");
        }
    }

    #[test]
    fn golden_events_round_trip() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/events");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") || path.to_string_lossy().contains(".expected.") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let original: Value = serde_json::from_str(&text).unwrap();
            let ev: Event = serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert_eq!(serde_json::to_value(&ev).unwrap(), original, "{path:?} does not round-trip");
            n += 1;
        }
        assert!(n >= 4, "expected the golden events, found {n}");
    }

    #[test]
    fn nulls_are_omitted() {
        let r = Response::new(404, "Not Found");
        let v = serde_json::to_string(&r).unwrap();
        assert!(!v.contains("null"), "{v}");
        assert!(!v.contains("body"), "{v}");
    }

    #[test]
    fn bucket_from_domain() {
        let o =
            |d: &str| S3Origin { domain_name: d.into(), region: String::new(), path: String::new(), extra: Map::new() };
        assert_eq!(o("my-bucket.s3.amazonaws.com").bucket(), Some("my-bucket"));
        assert_eq!(o("my.bucket.s3.us-east-1.amazonaws.com").bucket(), Some("my.bucket"));
        assert_eq!(o("example.com").bucket(), None);
    }
}
