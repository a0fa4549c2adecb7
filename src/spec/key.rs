//! Object keys: the one validated form every handler, store and the janitor share.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::SpecError;

/// S3's own limit on key length, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A validated object key: relative (no leading `/`), UTF-8, at most 1024 bytes, made of
/// non-empty `/`-separated segments none of which is `.` or `..`, with no backslash or
/// control character. Valid keys are also safe file paths below a directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    pub fn new(s: impl Into<String>) -> Result<Self, SpecError> {
        let s = s.into();
        if s.is_empty() || s.len() > MAX_KEY_BYTES {
            return Err(SpecError::BadKey("key is empty or longer than 1024 bytes"));
        }
        if s.chars().any(|c| c.is_control() || c == '\\') {
            return Err(SpecError::BadKey("key contains a control character or backslash"));
        }
        if s.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
            return Err(SpecError::BadKey("key has an empty, '.' or '..' segment"));
        }
        Ok(Key(s))
    }

    /// Decode a CloudFront/HTTP URI path (`/a/b%20c.jpg`) into a key. Decodes exactly once:
    /// `%252e` stays the literal text `%2e`, which is a harmless name, not a `.`.
    pub fn from_uri(uri: &str) -> Result<Self, SpecError> {
        let path = uri.strip_prefix('/').ok_or(SpecError::BadKey("uri must start with '/'"))?;
        if path.len() > 3 * MAX_KEY_BYTES {
            return Err(SpecError::BadKey("uri too long"));
        }
        let decoded = percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| SpecError::BadKey("uri is not UTF-8 after percent-decoding"))?;
        Key::new(decoded.into_owned())
    }

    /// The canonical URI for this key: every byte but unreserved characters and `/` is
    /// percent-encoded, so two spellings of one key give one cache key.
    pub fn to_uri(&self) -> String {
        format!("/{}", utf8_percent_encode(&self.0, URI_ENCODE))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory part (without trailing `/`), empty at the top level.
    pub fn dir(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(d, _)| d)
    }

    /// The last segment.
    pub fn file(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, f)| f)
    }

    /// Lower-cased extension of the file name, if any.
    pub fn extension(&self) -> Option<String> {
        let f = self.file();
        f.rsplit_once('.').filter(|(stem, _)| !stem.is_empty()).map(|(_, e)| e.to_ascii_lowercase())
    }

    /// Join directory parts and a file into a key.
    pub(crate) fn join(parts: &[&str]) -> Result<Key, SpecError> {
        Key::new(parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("/"))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 3986 unreserved characters and `/` stay as they are.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_traversal_and_junk() {
        for bad in ["", "/a", "a/", "a//b", "../a", "a/./b", "a/..", "a\\b", "a\u{0}b", "a\nb"] {
            assert!(Key::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Key::new("x".repeat(1025)).is_err());
        assert!(Key::new("x".repeat(1024)).is_ok());
    }

    #[test]
    fn uri_decoding_is_single_and_strict() {
        assert_eq!(Key::from_uri("/image/a%20b.jpg").unwrap().as_str(), "image/a b.jpg");
        assert!(Key::from_uri("/image/%2e%2e/x.jpg").is_err());
        assert!(Key::from_uri("/image/%2E%2E/x.jpg").is_err());
        assert_eq!(Key::from_uri("/image/%252e%252e/x.jpg").unwrap().as_str(), "image/%2e%2e/x.jpg");
        assert!(Key::from_uri("/image/%00.jpg").is_err());
        assert!(Key::from_uri("/image/%5c..%5cx.jpg").is_err());
        assert!(Key::from_uri("/image/%ff.jpg").is_err());
        assert!(Key::from_uri("image/a.jpg").is_err());
    }

    #[test]
    fn uri_round_trip_and_canonical_spelling() {
        let k = Key::new("image/ünï cödé+x.jpg").unwrap();
        assert_eq!(Key::from_uri(&k.to_uri()).unwrap(), k);
        assert_eq!(Key::from_uri("/image/%41.jpg").unwrap().to_uri(), "/image/A.jpg");
        assert_eq!(k.dir(), "image");
        assert_eq!(k.extension().as_deref(), Some("jpg"));
        assert_eq!(Key::new(".hidden").unwrap().extension(), None);
    }
}
