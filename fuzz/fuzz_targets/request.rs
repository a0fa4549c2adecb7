//! The viewer's uri + query + Accept → route decision. Input: three lines.
//! Invariants: never a panic; every rewrite stays under the prefix, is a variant key that
//! parses back to the same original and variant, is never the original's key, and is a
//! fixed point (asking for the canonical uri routes to itself).
#![no_main]

use edge_resize::spec::{parse_variant_key, route, Route};
use edge_resize::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(3, '\n');
    let (uri, query, accept) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let cfg = Config::default();
    let Ok(r) = route(uri, query, accept, &cfg) else { return };
    match r {
        Route::Untouched => {}
        Route::Original { key } => {
            assert!(key.to_uri().starts_with(&cfg.prefix), "{key:?}");
            assert!(parse_variant_key(&key, &cfg).is_none(), "original routed as a variant: {key:?}");
        }
        Route::Variant { key, original, variant } => {
            let k = key.to_uri();
            assert!(k.starts_with(&cfg.prefix), "{k}");
            assert_ne!(key, original, "a variant key equal to its original");
            assert!(!k.contains("/../") && !k.contains('\\') && !k.contains('\0'), "{k}");
            assert_eq!(parse_variant_key(&key, &cfg), Some((original.clone(), variant)), "{k}");
            match route(&k, "", accept, &cfg) {
                Ok(Route::Variant { key: again, .. }) => assert_eq!(again, key, "not a fixed point: {k}"),
                other => panic!("canonical uri {k} routes to {other:?}"),
            }
        }
    }
});
