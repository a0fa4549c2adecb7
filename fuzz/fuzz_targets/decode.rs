//! Untrusted bytes through the whole transform (sniff, header limits, decode, resize,
//! orient, colour, encode). The first byte picks the output format, the fit and (top bit)
//! two decode threads. Invariants: never a panic; an image comes out no larger than asked;
//! a JPEG decoded in restart bands gives the same result as decoded whole; limits keep each
//! run small.
#![no_main]

use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::{restart, run, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else { return };
    let format = [Format::Jpeg, Format::Webp, Format::Png][usize::from(pick % 3)];
    let fit = [Fit::Cover, Fit::Inside, Fit::Fill][usize::from(pick / 3 % 3)];
    let o = Options {
        size: Size::new(48, 32),
        fit,
        format,
        quality: 70,
        upscale: false,
        max_pixels: 4_000_000,
        max_input_bytes: 1_000_000,
        max_animation_frames: 8,
        max_animation_pixels: 4_000_000,
        budget: Some(20_000),
        reencode_attempts: 1,
        decode_threads: if pick & 0x80 != 0 { 2 } else { 1 },
    };
    let result = run(input, &o);
    if let Ok(out) = &result {
        assert!(!out.bytes.is_empty());
        assert!(out.width <= 48 && out.height <= 32, "{}x{}", out.width, out.height);
    }
    if o.decode_threads == 2 && restart::bands(input, 2).is_some() {
        let whole = run(input, &Options { decode_threads: 1, ..o });
        let bytes = |r: &Result<edge_resize::transform::Output, _>| r.as_ref().ok().map(|o| o.bytes.clone());
        assert_eq!(bytes(&result), bytes(&whole), "banded and whole-file decodes differ");
    }
});
