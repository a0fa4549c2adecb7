//! viewer-request: rewrite `/image/x.jpg?d=100` to the canonical `/image/100x100/x.jpg`
//! and drop the query string, so the cache key is the path alone. Runs in a 128 MB,
//! 5 s trigger whose generated responses are limited to 40 KB: no I/O, no codec.

use crate::cloudfront::{header, set_header, Event, Request, Response, ViewerResult};
use crate::spec::{route, Route};
use crate::Config;

use super::reason;

/// Handle one request.
pub fn viewer_request(mut req: Request, cfg: &Config) -> ViewerResult {
    let accept = header(&req.headers, "accept").unwrap_or("");
    match route(&req.uri, &req.querystring, accept, cfg) {
        Ok(Route::Untouched) => ViewerResult::Request(req),
        Ok(Route::Original { key } | Route::Variant { key, .. }) => {
            req.uri = key.to_uri();
            req.querystring.clear();
            ViewerResult::Request(req)
        }
        Err(e) => {
            tracing::info!(uri = %req.uri, error = %e, "rejected");
            ViewerResult::Response(small_response(400, &e.to_string()))
        }
    }
}

/// A short text answer; never cached (it depends on the query, which is not in the key).
pub fn small_response(status: u16, message: &str) -> Response {
    let mut r = Response::new(status, reason(status));
    set_header(&mut r.headers, "Content-Type", "text/plain; charset=utf-8");
    set_header(&mut r.headers, "Cache-Control", "no-store");
    // Well under the 40 KB limit of a viewer-trigger generated response.
    let mut body: String = message.chars().take(512).collect();
    body.push('\n');
    r.body = Some(body);
    r.body_encoding = Some(crate::cloudfront::BodyEncoding::Text);
    r
}

/// The Lambda entry point's logic: the first record's request.
pub fn viewer_request_event(event: Event, cfg: &Config) -> ViewerResult {
    match event.records.into_iter().next() {
        Some(rec) => viewer_request(rec.cf.request, cfg),
        None => ViewerResult::Response(small_response(500, "event without records")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Event {
        let p = format!("{}/fixtures/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    #[test]
    fn golden_viewer_request_is_rewritten() {
        let ViewerResult::Request(r) = viewer_request_event(golden("viewer-request.json"), &Config::default()) else {
            panic!("expected a request")
        };
        assert_eq!(r.uri, "/image/100x100/webp/coffee.jpg");
        assert_eq!(r.querystring, "");
        // Everything else passes through untouched.
        assert_eq!(r.client_ip.as_deref(), Some("203.0.113.178"));
        assert_eq!(header(&r.headers, "host"), Some("d111111abcdef8.cloudfront.net"));
    }

    #[test]
    fn golden_bad_request_is_a_small_400() {
        let ViewerResult::Response(r) = viewer_request_event(golden("viewer-request-bad.json"), &Config::default())
        else {
            panic!("expected a response")
        };
        assert_eq!(r.status, "400");
        assert_eq!(header(&r.headers, "cache-control"), Some("no-store"));
        assert!(r.json_len() < 40 * 1024);
        let v = serde_json::to_value(ViewerResult::Response(r)).unwrap();
        assert!(v.get("uri").is_none() && v["status"] == "400");
    }
}
