//! `edge-resize serve` (placeholder until the local edge lands).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}
pub fn main(_cfg: crate::Config, _a: ServeArgs) -> Result<(), std::io::Error> { Ok(()) }
