//! The two CloudFront Lambda@Edge handlers (DESIGN §1). Plain functions over the typed
//! events; the binaries and `serve` only wire them up.

pub mod derive;
pub mod http_date;
pub mod limit;
pub mod origin;
pub mod viewer;

pub use limit::Limiter;
pub use origin::{origin_response, origin_response_event, origin_response_measured};
pub use viewer::{viewer_request, viewer_request_event};

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    #[error("out of time {0} (the trigger's budget is spent)")]
    Timeout(&'static str),
    /// The original changed while its variant was made; the variant was withdrawn.
    #[error("the original changed while the variant was made: try again")]
    OriginalChanged,
    /// `serve`'s transform limits are taken (concurrency or memory) and stayed so for the
    /// configured wait: try again after `retry_after_s` seconds.
    #[error("too many transforms in progress: try again in {retry_after_s} s")]
    Overloaded { retry_after_s: u32 },
}

impl EdgeError {
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::Spec(_) => 400,
            EdgeError::OriginalMissing(_) => 404,
            EdgeError::Transform(e) => e.status(),
            EdgeError::Store(StoreError::TooLarge { .. }) => 502,
            EdgeError::Store(StoreError::Unavailable(_))
            | EdgeError::OverBudgetUnstored
            | EdgeError::OriginalChanged
            | EdgeError::Overloaded { .. } => 503,
            EdgeError::Store(_) => 502,
            EdgeError::Timeout(_) => 504,
            EdgeError::BadEvent | EdgeError::BucketNotAllowed(_) | EdgeError::NoBucket => 500,
        }
    }
}

/// Standard reason phrases for the statuses the handlers produce.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// When a handler must have answered. Every S3 call and the transform run under what is
/// left, so the SDK's retries stop in time for the handler to send a 5xx itself instead
/// of being killed by the trigger's timeout (which CloudFront turns into a cached 503).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

/// Kept back from every deadline to build and return the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(300);

impl Deadline {
    pub fn after(d: Duration) -> Self {
        Deadline(Instant::now() + d)
    }

    /// The configured `origin_timeout_ms` from now.
    pub fn for_config(cfg: &crate::Config) -> Self {
        Self::after(Duration::from_millis(cfg.origin_timeout_ms))
    }

    /// The earlier of the configured budget and a Lambda invocation's deadline (epoch ms,
    /// as the Runtime API gives it).
    pub fn for_invocation(cfg: &crate::Config, deadline_epoch_ms: u64) -> Self {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let left = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms));
        Self::after(left.min(Duration::from_millis(cfg.origin_timeout_ms)))
    }

    /// Time left for work: up to the deadline less the margin kept to answer.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now()).saturating_sub(ANSWER_MARGIN)
    }

    /// Run `fut` for at most `share` of the time left; `what` names it in the error.
    pub async fn run<T>(&self, share: f64, what: &'static str, fut: impl Future<Output = T>) -> Result<T, EdgeError> {
        tokio::time::timeout(self.remaining().mul_f64(share), fut).await.map_err(|_| EdgeError::Timeout(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(d: Duration) -> u64 {
        (SystemTime::now() + d).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
    }

    #[test]
    fn invocation_deadline_is_the_earlier_one_less_the_answer_margin() {
        let cfg = crate::Config { origin_timeout_ms: 5_000, ..Default::default() };
        // The invocation has 2 s: 2 s less the margin is left for work.
        let left = Deadline::for_invocation(&cfg, epoch_ms_in(Duration::from_secs(2))).remaining();
        assert!(left <= Duration::from_millis(1_700) && left > Duration::from_millis(1_500), "{left:?}");
        // The invocation has 60 s: the configured 5 s wins.
        let left = Deadline::for_invocation(&cfg, epoch_ms_in(Duration::from_secs(60))).remaining();
        assert!(left <= Duration::from_millis(4_700) && left > Duration::from_millis(4_500), "{left:?}");
        // Already past: nothing left, and no panic on the negative difference.
        assert_eq!(Deadline::for_invocation(&cfg, 0).remaining(), Duration::ZERO);
    }

    #[tokio::test]
    async fn run_cuts_what_outlives_its_share() {
        let d = Deadline::after(Duration::from_millis(800));
        let slow = d.run(0.5, "sleeping", tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(slow, Err(EdgeError::Timeout("sleeping")));
        assert_eq!(EdgeError::Timeout("x").status(), 504);
        assert_eq!(d.run(1.0, "quick", async { 7 }).await, Ok(7));
    }
}
