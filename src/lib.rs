//! edge-resize: on-the-fly image resizing at the CDN edge.
//!
//! A request walks one way: [`spec`] (which variant, under which key) → [`edge`]
//! (CloudFront handlers) → [`transform`] (decode, resize, encode) → [`store`] (S3 or a
//! directory) and back. The [`janitor`] reuses `spec` and `store` to delete stale
//! variants and [`cdn`] to invalidate them; [`serve`] wires it all to HTTP locally.
//! [`metrics`] is what each invocation measured (CloudWatch EMF, `Server-Timing`).

pub mod cdn;
pub mod cloudfront;
pub mod config;
pub mod edge;
#[cfg(feature = "aws")]
pub mod janitor;
pub mod metrics;
#[cfg(feature = "aws")]
pub mod serve;
pub mod spec;
pub mod store;
pub mod transform;

pub use config::Config;
