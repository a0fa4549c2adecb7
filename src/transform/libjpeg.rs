//! libjpeg's error manager and the decode policy for its warnings.
//!
//! libjpeg reports a recoverable problem as a *warning* (`emit_message` with level -1)
//! and goes on decoding; what it does next depends on the warning. Some mean pixels
//! were invented or lost (it fills the rest of a truncated scan with grey, or skips to
//! the next restart marker), and a thumbnail made from them would be cached for a year,
//! so they stay fatal. Others are about harmless structure, and browsers, Pillow and
//! libvips (default `fail_on: none`) show such files, so they are tolerated and logged.
//! The rule for each code is in [`policy`]; the codes and texts are libjpeg's own
//! (`jerror.h`, <https://github.com/libjpeg-turbo/libjpeg-turbo/blob/main/jerror.h>).

use std::cell::RefCell;
use std::os::raw::c_int;

use mozjpeg_sys as sys;

/// What the policy does with one libjpeg warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningPolicy {
    /// The image data is intact: decode on, log the message.
    Tolerate,
    /// Pixels were invented or lost: refuse the image.
    Fatal,
}

// With arithmetic decoding built in, jerror.h (jpeg62 ABI) inserts JERR_NO_ARITH_TABLE and
// JWRN_ARITH_BAD_CODE after JERR_BAD_CROP_SPEC, which shifts every later code by two;
// mozjpeg-sys's constants are generated without it. The unit tests check each constant
// used here against libjpeg's own message table, so a shifted table fails a test.
/// `JWRN_ARITH_BAD_CODE` ("Corrupt JPEG data: bad arithmetic code") in this build.
pub const JWRN_ARITH_BAD_CODE: c_int = sys::JERR_BAD_CROP_SPEC + 2;
/// `JWRN_BOGUS_ICC` ("Corrupt JPEG data: bad ICC marker") in this build.
pub const JWRN_BOGUS_ICC: c_int = sys::JWRN_BOGUS_ICC + 2;

/// The decode policy, by libjpeg message code. Codes that are not warnings never reach it
/// (errors always abort; trace messages are ignored).
pub fn policy(code: c_int) -> WarningPolicy {
    match code {
        // "Corrupt JPEG data: N extraneous bytes before marker 0xXX": stray bytes between
        // segments, which some phone cameras write before DQT or after a scan; libjpeg skips
        // them and reads the marker. No entropy-coded byte is skipped.
        sys::JWRN_EXTRANEOUS_DATA
        // "Invalid SOS parameters for sequential JPEG": a baseline scan whose Ss/Se/Ah/Al bytes
        // are not 0/63/0/0 (some encoders write zeros); libjpeg ignores them for a sequential scan.
        | sys::JWRN_NOT_SEQUENTIAL
        // "Inconsistent progression sequence": an unusual but decodable progressive scan
        // script (a band refined twice, or out of the usual order); every coefficient that
        // arrives is still used.
        | sys::JWRN_BOGUS_PROGRESSION
        // "Unknown Adobe color transform code": libjpeg then assumes YCbCr for three
        // components, which is what every such file in the field is.
        | sys::JWRN_ADOBE_XFORM
        // "Warning: unknown JFIF revision number": the JFIF header is informational only.
        | sys::JWRN_JFIF_MAJOR
        // "Corrupt JPEG data: bad ICC marker": only from jpeg_read_icc_profile, which is not
        // used (the profile is reassembled here and a bad one is ignored, as browsers do).
        | JWRN_BOGUS_ICC => WarningPolicy::Tolerate,
        // Everything else loses data: JWRN_JPEG_EOF ("Premature end of JPEG file": the rest
        // is grey), JWRN_HIT_MARKER ("premature end of data segment": a marker inside the
        // entropy-coded data, the scan's remainder is zeros), JWRN_HUFF_BAD_CODE and
        // JWRN_ARITH_BAD_CODE (corrupt entropy data), JWRN_MUST_RESYNC (restart markers out
        // of order: MCUs skipped), JWRN_TOO_MUCH_DATA (a bug of ours), and any code a later
        // libjpeg adds, until it is classified here.
        _ => WarningPolicy::Fatal,
    }
}

/// Why libjpeg stopped: its message code and its own text (`format_message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibjpegAbort {
    pub code: c_int,
    /// libjpeg's message with its parameters filled in, for example
    /// "Corrupt JPEG data: premature end of data segment".
    pub message: String,
    /// True for a warning the policy made fatal, false for a libjpeg error.
    pub warning: bool,
}

thread_local! {
    /// Warnings tolerated during the decode on this thread (decodes never interleave on
    /// one thread); drained by [`take_tolerated`].
    static TOLERATED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The tolerated warnings of the last decode on this thread, oldest first.
pub fn take_tolerated() -> Vec<String> {
    TOLERATED.with(|t| std::mem::take(&mut *t.borrow_mut()))
}

/// libjpeg's standard error manager with our `error_exit` and `emit_message`: both unwind
/// (mozjpeg-sys is built with `-fexceptions`) with a [`LibjpegAbort`] payload, which the
/// caller turns into a typed error inside its `catch_unwind`.
pub fn error_mgr() -> sys::jpeg_error_mgr {
    TOLERATED.with(|t| t.borrow_mut().clear());
    // SAFETY: a zeroed jpeg_error_mgr is what jpeg_std_error expects to fill in.
    let mut err: sys::jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { sys::jpeg_std_error(&mut err) };
    err.error_exit = Some(error_exit);
    err.emit_message = Some(emit_message);
    err
}

extern "C-unwind" fn error_exit(cinfo: &mut sys::jpeg_common_struct) {
    let abort = LibjpegAbort { code: code(cinfo), message: format_message(cinfo), warning: false };
    std::panic::resume_unwind(Box::new(abort));
}

extern "C-unwind" fn emit_message(cinfo: &mut sys::jpeg_common_struct, level: c_int) {
    // level -1 is a warning; 0 and above are trace messages, which are not ours to judge.
    if level >= 0 {
        return;
    }
    let code = code(cinfo);
    let message = format_message(cinfo);
    match policy(code) {
        WarningPolicy::Tolerate => TOLERATED.with(|t| t.borrow_mut().push(message)),
        WarningPolicy::Fatal => std::panic::resume_unwind(Box::new(LibjpegAbort { code, message, warning: true })),
    }
}

fn code(cinfo: &sys::jpeg_common_struct) -> c_int {
    // SAFETY: libjpeg sets `err` before it can call back.
    unsafe { cinfo.err.as_ref().map_or(0, |e| e.msg_code) }
}

/// libjpeg's own text for the current message, parameters filled in.
fn format_message(cinfo: &mut sys::jpeg_common_struct) -> String {
    // JMSG_LENGTH_MAX (jpeglib.h) is 200: format_message writes up to that many bytes,
    // whatever size the binding's signature says.
    let mut buf = [0u8; 200];
    // SAFETY: `err` is set (see `code`); the buffer is JMSG_LENGTH_MAX long.
    let Some(fmt) = (unsafe { cinfo.err.as_ref() }).and_then(|e| e.format_message) else {
        return format!("libjpeg message {}", code(cinfo));
    };
    unsafe { fmt(cinfo, &*(buf.as_mut_ptr() as *const [u8; 80])) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The message-table text for `code`, unformatted (for tests and docs).
pub fn message_template(code: c_int) -> Option<String> {
    let err = error_mgr();
    if code < 0 || code > err.last_jpeg_message {
        return None;
    }
    // SAFETY: jpeg_std_error points the table at libjpeg's static message array, which
    // has last_jpeg_message + 1 entries.
    let p = unsafe { *err.jpeg_message_table.add(code as usize) };
    (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every constant the policy names is the message libjpeg's table holds for it.
    #[test]
    fn codes_match_libjpeg_message_table() {
        let expect = [
            (sys::JWRN_EXTRANEOUS_DATA, "extraneous bytes before marker"),
            (sys::JWRN_NOT_SEQUENTIAL, "Invalid SOS parameters for sequential JPEG"),
            (sys::JWRN_BOGUS_PROGRESSION, "Inconsistent progression sequence"),
            (sys::JWRN_ADOBE_XFORM, "Unknown Adobe color transform code"),
            (sys::JWRN_JFIF_MAJOR, "unknown JFIF revision number"),
            (JWRN_BOGUS_ICC, "bad ICC marker"),
            (sys::JWRN_JPEG_EOF, "Premature end of JPEG file"),
            (sys::JWRN_HIT_MARKER, "premature end of data segment"),
            (sys::JWRN_HUFF_BAD_CODE, "bad Huffman code"),
            (JWRN_ARITH_BAD_CODE, "bad arithmetic code"),
            (sys::JWRN_MUST_RESYNC, "instead of RST"),
            (sys::JWRN_TOO_MUCH_DATA, "too many scanlines"),
        ];
        for (code, text) in expect {
            let t = message_template(code).unwrap_or_default();
            assert!(t.contains(text), "code {code}: table says {t:?}, expected {text:?}");
        }
    }

    #[test]
    fn data_loss_is_fatal_structure_is_tolerated() {
        for c in [
            sys::JWRN_JPEG_EOF,
            sys::JWRN_HIT_MARKER,
            sys::JWRN_HUFF_BAD_CODE,
            JWRN_ARITH_BAD_CODE,
            sys::JWRN_MUST_RESYNC,
        ] {
            assert_eq!(policy(c), WarningPolicy::Fatal, "{c}");
        }
        for c in
            [sys::JWRN_EXTRANEOUS_DATA, sys::JWRN_NOT_SEQUENTIAL, sys::JWRN_BOGUS_PROGRESSION, sys::JWRN_ADOBE_XFORM]
        {
            assert_eq!(policy(c), WarningPolicy::Tolerate, "{c}");
        }
        // An unknown code is fatal until someone classifies it.
        assert_eq!(policy(10_000), WarningPolicy::Fatal);
    }
}
