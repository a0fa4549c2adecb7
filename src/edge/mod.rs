//! The two CloudFront Lambda@Edge handlers (DESIGN §1). Plain functions over the typed
//! events; the binaries and `serve` only wire them up.

pub mod origin;
pub mod viewer;

pub use origin::{origin_response, origin_response_event};
pub use viewer::{viewer_request, viewer_request_event};

use crate::spec::SpecError;
use crate::store::StoreError;
use crate::transform::TransformError;

/// Why a handler could not make a variant; `status()` is the HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    #[error("the event has no record, request or response")]
    BadEvent,
    #[error("the original does not exist: {0}")]
    OriginalMissing(String),
    #[error("origin bucket '{0}' is not one this function serves")]
    BucketNotAllowed(String),
    #[error("the event names no S3 origin and no bucket is configured")]
    NoBucket,
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Transform(#[from] TransformError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the variant is over the response budget and could not be stored")]
    OverBudgetUnstored,
}

impl EdgeError {
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::Spec(_) => 400,
            EdgeError::OriginalMissing(_) => 404,
            EdgeError::Transform(e) => e.status(),
            EdgeError::Store(StoreError::TooLarge { .. }) => 502,
            EdgeError::Store(StoreError::Unavailable(_)) | EdgeError::OverBudgetUnstored => 503,
            EdgeError::Store(_) => 502,
            EdgeError::BadEvent | EdgeError::BucketNotAllowed(_) | EdgeError::NoBucket => 500,
        }
    }
}

/// Standard reason phrases for the statuses the handlers produce.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}
