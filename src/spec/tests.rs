use proptest::prelude::*;

use super::*;
use crate::config::{Config, Unlisted};

fn cfg() -> Config {
    Config::default()
}

fn variant_uri(uri: &str, q: &str, accept: &str) -> String {
    match route(uri, q, accept, &cfg()).unwrap() {
        Route::Variant { key, .. } => key.to_uri(),
        other => panic!("expected a variant, got {other:?}"),
    }
}

#[test]
fn seeds_rewrite() {
    assert_eq!(variant_uri("/image/test.jpg", "d=100", ""), "/image/100x100/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=100&junk=1", ""), "/image/100x100/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=150", ""), "/image/100x100/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=250", ""), "/image/200x200/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=99999", ""), "/image/1280x720/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=10", ""), "/image/100x100/test.jpg");
    assert_eq!(variant_uri("/image/a/b.png", "d=640x480", ""), "/image/a/640x480/b.png");
    assert_eq!(variant_uri("/image/test.jpg", "w=300&h=300", ""), "/image/300x300/test.jpg");
}

#[test]
fn format_fit_quality_segments() {
    let webp = "image/avif;q=0,image/webp,*/*";
    assert_eq!(variant_uri("/image/test.jpg", "d=100", webp), "/image/100x100/webp/test.jpg");
    assert_eq!(variant_uri("/image/test.webp", "d=100", webp), "/image/100x100/test.webp");
    assert_eq!(variant_uri("/image/test.jpg", "d=100&format=png", webp), "/image/100x100/png/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=100&fit=inside", ""), "/image/100x100-inside/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=100&fit=cover", ""), "/image/100x100/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=100&q=60", ""), "/image/100x100-q50/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=100&q=95", ""), "/image/100x100/test.jpg");
    assert_eq!(variant_uri("/image/test.jpg", "d=100&q=1", ""), "/image/100x100-q50/test.jpg");
    assert_eq!(variant_uri("/image/anim.gif", "d=100", ""), "/image/100x100/anim.gif");
}

#[test]
fn hostile_queries_are_400() {
    for q in [
        "d=0",
        "d=-1",
        "d=abc",
        "d=99999999",
        "d=1e3",
        "d=%2B5",
        "d=100&d=200",
        "w=0",
        "fit=bogus",
        "q=0",
        "q=101",
        "q=-5",
        "format=gif",
        "d=100&w=50",
        "d=100x",
        "d=x100",
        "d=١٠٠",
    ] {
        let r = route("/image/test.jpg", q, "", &cfg());
        assert!(r.is_err(), "{q} gave {r:?}");
    }
    assert!(route("/image/test.jpg", &"a=1&".repeat(1000), "", &cfg()).is_err());
}

#[test]
fn hostile_paths_never_escape() {
    for uri in [
        "/image/../secret.jpg",
        "/image/%2e%2e/secret.jpg",
        "/image/a\\..\\b.jpg",
        "/image/%00.jpg",
        "/image//x.jpg",
        "/image/%ff%fe.jpg",
    ] {
        assert!(route(uri, "d=100", "", &cfg()).is_err(), "{uri}");
    }
    assert_eq!(route("/other/x.jpg", "d=100", "", &cfg()).unwrap(), Route::Untouched);
    assert_eq!(route("/image/readme.txt", "d=100", "", &cfg()).unwrap(), Route::Untouched);
    assert!(matches!(route("/image/x.jpg", "", "", &cfg()).unwrap(), Route::Original { .. }));
}

#[test]
fn canonical_variant_uri_is_its_own_route() {
    let r = route("/image/100x100/webp/test.jpg", "d=300", "", &cfg()).unwrap();
    let Route::Variant { key, original, variant } = r else { panic!() };
    assert_eq!(key.as_str(), "image/100x100/webp/test.jpg");
    assert_eq!(original.as_str(), "image/test.jpg");
    assert_eq!(variant.format, Some(Format::Webp));
    // Not allowed or not canonical: not a variant key.
    for k in [
        "image/101x101/test.jpg",
        "image/100x100/jpeg/test.jpg",
        "image/100x100-cover/test.jpg",
        "image/100x100-q51/test.jpg",
        "image/100/test.jpg",
        "image/0100x100/test.jpg",
        "other/100x100/t.jpg",
    ] {
        assert_eq!(parse_variant_key(&Key::new(k).unwrap(), &cfg()), None, "{k}");
    }
}

#[test]
fn reject_mode_and_width_only_sizes() {
    let mut c = cfg();
    c.sizes.push(Size::new(300, 0));
    assert!(
        matches!(route("/image/t.jpg", "w=500", "", &c).unwrap(), Route::Variant { key, .. } if key.as_str() == "image/300x0/t.jpg")
    );
    c.unlisted = Unlisted::Reject;
    assert!(route("/image/t.jpg", "d=150", "", &c).is_err());
    assert!(route("/image/t.jpg", "d=100", "", &c).is_ok());
    assert!(route("/image/t.jpg", "h=100", "", &c).is_err());
}

#[test]
fn all_variants_are_recognised_and_distinct() {
    let c = cfg();
    let orig = Key::new("image/dir/photo.jpg").unwrap();
    let all = all_variant_keys(&orig, &c);
    // sizes x fits x (default + listed qualities) x (own + other formats)
    assert_eq!(all.len(), 5 * 3 * 3 * c.formats.len());
    let set: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(set.len(), all.len());
    for k in &all {
        let (o, v) = parse_variant_key(k, &c).expect("variant recognised");
        assert_eq!(o, orig);
        assert_eq!(&variant_key(&o, &v, &c).unwrap(), k);
    }
}

fn seg() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _+()ü€-]{1,12}",
        "[0-9]{1,4}x[0-9]{1,4}",
        Just("100x100".to_string()),
        Just("webp".to_string()),
        Just("..".to_string()),
        Just("%2e%2e".to_string()),
    ]
}

fn uri() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(seg(), 0..4),
        seg(),
        prop_oneof![Just("jpg"), Just("png"), Just("gif"), Just("txt"), Just("JPG")],
    )
        .prop_map(|(dirs, f, e)| {
            let mut u = "/image/".to_string();
            for d in dirs {
                u.push_str(&d);
                u.push('/');
            }
            format!("{u}{f}.{e}")
        })
}

fn query() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            prop_oneof![Just("d"), Just("w"), Just("h"), Just("fit"), Just("q"), Just("format"), Just("x")],
            prop_oneof![
                "[0-9]{0,6}",
                "[0-9]{1,4}x[0-9]{1,4}",
                Just("inside".to_string()),
                Just("webp".to_string()),
                "\\PC{0,4}"
            ],
        ),
        0..4,
    )
    .prop_map(|kv| kv.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))
}

proptest! {
    /// Every request maps to exactly one canonical key or a typed rejection, the key is a
    /// recognised variant under the prefix, and the mapping round-trips.
    #[test]
    fn route_is_total_and_round_trips(u in uri(), q in query(), accept in prop_oneof![Just(""), Just("image/webp"), Just("image/avif,image/webp")]) {
        let c = cfg();
        match route(&u, &q, accept, &c) {
            Ok(Route::Variant { key, original, variant }) => {
                prop_assert!(key.as_str().starts_with("image/"));
                prop_assert_ne!(&key, &original);
                prop_assert_eq!(parse_variant_key(&key, &c), Some((original.clone(), variant)));
                prop_assert_eq!(variant_key(&original, &variant, &c).unwrap(), key.clone());
                prop_assert!(parse_variant_key(&original, &c).is_none());
                // The canonical uri routes to itself, whatever the query.
                let again = route(&key.to_uri(), &q, accept, &c).unwrap();
                prop_assert_eq!(again, Route::Variant { key: key.clone(), original, variant });
            }
            Ok(Route::Original { key }) => prop_assert!(parse_variant_key(&key, &c).is_none()),
            Ok(Route::Untouched) | Err(_) => {}
        }
    }

    #[test]
    fn key_uri_round_trip(s in "[^\\x00-\\x1f\\\\]{1,40}") {
        if let Ok(k) = Key::new(s) {
            prop_assert_eq!(Key::from_uri(&k.to_uri()).unwrap(), k);
        }
    }
}
