//! The variant-URI function (DESIGN §2): one pure, total mapping between an original key,
//! a viewer's request and the canonical variant key, used by the viewer-request, the
//! origin-response, the janitor and `serve`. Nothing else derives keys.

mod key;
mod request;
mod variant;

pub use key::{Key, MAX_KEY_BYTES};
pub use request::{apply_dpr, negotiate, parse_query, route, snap, Params, Route};
pub use variant::{all_variant_keys, is_image_ext, parse_variant_key, variant_key, Fit, Format, Size, Variant};

/// Why a request or key was refused. Every variant maps to HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("invalid key: {0}")]
    BadKey(&'static str),
    #[error("invalid size: {0}")]
    BadSize(String),
    #[error("invalid query: {0}")]
    BadQuery(String),
    #[error("not on the allow-list: {0}")]
    NotAllowed(String),
}

#[cfg(test)]
mod tests;
