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
    // HEIC originals become JPEG unless another format is asked for.
    assert_eq!(variant_uri("/image/IMG_0001.HEIC", "w=640", ""), "/image/640x0/IMG_0001.HEIC");
    assert_eq!(variant_uri("/image/p.heic", "d=100&format=jpeg", webp), "/image/100x100/p.heic");
    assert_eq!(variant_uri("/image/p.heif", "d=100", webp), "/image/100x100/webp/p.heif");
    assert_eq!(parse_variant_key(&Key::new("image/100x100/jpeg/p.heic").unwrap(), &cfg()), None);
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
        "image/640x0-inside/test.jpg",
        "image/0x640-fill/test.jpg",
        "image/641x0/test.jpg",
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
    c.sizes = vec![Size::new(100, 100), Size::new(300, 0)];
    assert!(
        matches!(route("/image/t.jpg", "w=500", "", &c).unwrap(), Route::Variant { key, .. } if key.as_str() == "image/300x0/t.jpg")
    );
    assert!(route("/image/t.jpg", "h=500", "", &c).is_err(), "no height-only size listed");
    c.unlisted = Unlisted::Reject;
    assert!(route("/image/t.jpg", "d=150", "", &c).is_err());
    assert!(route("/image/t.jpg", "d=100", "", &c).is_ok());
    assert!(route("/image/t.jpg", "w=299", "", &c).is_err());
    assert!(route("/image/t.jpg", "w=150&dpr=2", "", &c).is_ok(), "dpr applies before the allow-list check");
}

/// What `srcset` and `sizes` send: widths (`w` descriptors), heights, device pixel ratios.
#[test]
fn srcset_widths_heights_and_dpr() {
    let v = |q: &str| variant_uri("/image/coffee.jpg", q, "");
    assert_eq!(v("w=640"), "/image/640x0/coffee.jpg");
    assert_eq!(v("w=700"), "/image/640x0/coffee.jpg");
    assert_eq!(v("w=3840"), "/image/3840x0/coffee.jpg");
    assert_eq!(v("w=99999"), "/image/3840x0/coffee.jpg");
    assert_eq!(v("w=1"), "/image/16x0/coffee.jpg");
    assert_eq!(v("h=100"), "/image/0x96/coffee.jpg");
    assert_eq!(v("d=100&dpr=2"), "/image/200x200/coffee.jpg");
    assert_eq!(v("w=320&dpr=2"), "/image/640x0/coffee.jpg");
    assert_eq!(v("w=640&dpr=1.5"), "/image/828x0/coffee.jpg", "960 snaps down");
    assert_eq!(v("w=375&dpr=2.00"), "/image/750x0/coffee.jpg");
    assert_eq!(v("h=64&dpr=3"), "/image/0x128/coffee.jpg", "192 snaps down to 128");
    assert_eq!(v("d=640x480&dpr=1"), "/image/640x480/coffee.jpg");
    // One side free: the fit changes nothing, so it is not in the key.
    assert_eq!(v("w=640&fit=inside"), "/image/640x0/coffee.jpg");
    assert_eq!(v("h=640&fit=fill&q=50"), "/image/0x640-q50/coffee.jpg");
    assert!(route("/image/coffee.jpg", "w=640&fit=bogus", "", &cfg()).is_err());
    // Both sides: a box, as before.
    assert_eq!(v("w=300&h=300&fit=inside"), "/image/300x300-inside/coffee.jpg");
    // dpr alone asks for no size: the original.
    assert!(matches!(route("/image/coffee.jpg", "dpr=2", "", &cfg()).unwrap(), Route::Original { .. }));
    assert_eq!(apply_dpr((Some(333), None), Some(150)), (Some(500), None), "rounded to the nearest pixel");
}

#[test]
fn bad_dpr_is_400() {
    for q in [
        "d=100&dpr=0",
        "d=100&dpr=4",
        "d=100&dpr=0.5",
        "d=100&dpr=3.01",
        "d=100&dpr=abc",
        "d=100&dpr=1.555",
        "d=100&dpr=2.",
        "d=100&dpr=.5",
        "d=100&dpr=02",
        "d=100&dpr=-1",
        "d=100&dpr=1e0",
        "d=100&dpr=%2B2",
        "d=100&dpr=",
        "d=100&dpr=2&dpr=2",
        "dpr=9",
    ] {
        let r = route("/image/test.jpg", q, "", &cfg());
        assert!(matches!(r, Err(SpecError::BadQuery(_))), "{q} gave {r:?}");
    }
}

#[test]
fn all_variants_are_recognised_and_distinct() {
    let c = cfg();
    let orig = Key::new("image/dir/photo.jpg").unwrap();
    let all = all_variant_keys(&orig, &c);
    // (boxes x fits + widths and heights x the default fit) x (default + listed qualities)
    // x (own + other formats)
    let boxes = c.sizes.iter().filter(|s| s.is_box()).count();
    let single = c.sizes.len() - boxes;
    assert_eq!((boxes, single), (5, 32));
    assert_eq!(all.len(), (boxes * 3 + single) * 3 * c.formats.len());
    assert!(all.len() <= 1000, "one DeleteObjects call per original");
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
            prop_oneof![
                Just("d"),
                Just("w"),
                Just("h"),
                Just("dpr"),
                Just("fit"),
                Just("q"),
                Just("format"),
                Just("x")
            ],
            prop_oneof![
                "[0-9]{0,6}",
                "[0-4](\\.[0-9]{0,3})?",
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

    /// `w=`, `h=` and `d=` with any `dpr=` land on one allowed size of the asked shape: the
    /// largest (by area) not larger than asked, else the smallest; and `dpr=` is the same as
    /// asking for the multiplied size.
    #[test]
    fn sizes_snap_to_the_largest_allowed_not_larger(kind in 0..3u8, n in 1u32..20000, m in 1u32..20000, dpr in 100u32..=300) {
        let c = cfg();
        let (q, want) = match kind {
            0 => (format!("w={n}"), (Some(n), None)),
            1 => (format!("h={n}"), (None, Some(n))),
            _ => (format!("d={n}x{m}"), (Some(n), Some(m))),
        };
        let asked = apply_dpr(want, Some(dpr));
        let size_of = |q: &str| match route("/image/a.jpg", q, "", &c) {
            Ok(Route::Variant { variant, .. }) => Ok(variant.size),
            other => Err(format!("{q}: {other:?}")),
        };
        let s = size_of(&format!("{q}&dpr={}.{:02}", dpr / 100, dpr % 100)).unwrap();
        let direct = match asked {
            (Some(w), None) => format!("w={w}"),
            (None, Some(h)) => format!("h={h}"),
            (w, h) => format!("d={}x{}", w.unwrap_or(0), h.unwrap_or(0)),
        };
        prop_assert_eq!(size_of(&direct).unwrap(), s);
        prop_assert!(c.sizes.contains(&s));
        prop_assert_eq!((s.w == 0, s.h == 0), (asked.0.is_none(), asked.1.is_none()));
        let area = |t: &Size| u64::from(t.w.max(1)) * u64::from(t.h.max(1));
        let fits = |t: &Size| t.w <= asked.0.unwrap_or(0) && t.h <= asked.1.unwrap_or(0);
        let shaped: Vec<&Size> = c.sizes.iter().filter(|t| (t.w == 0, t.h == 0) == (s.w == 0, s.h == 0)).collect();
        if shaped.iter().any(|t| fits(t)) {
            prop_assert!(fits(&s));
            prop_assert!(shaped.iter().filter(|t| fits(t)).all(|t| area(t) <= area(&s)));
        } else {
            prop_assert!(shaped.iter().all(|t| area(t) >= area(&s)));
        }
    }

    #[test]
    fn key_uri_round_trip(s in "[^\\x00-\\x1f\\\\]{1,40}") {
        if let Ok(k) = Key::new(s) {
            prop_assert_eq!(Key::from_uri(&k.to_uri()).unwrap(), k);
        }
    }
}
