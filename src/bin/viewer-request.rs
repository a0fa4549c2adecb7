//! Lambda@Edge viewer-request: canonical rewrite, no I/O.
use std::process::ExitCode;

use edge_resize::cloudfront::{Event, ViewerResult};
use edge_resize::edge::viewer_request_event;
use edge_resize::Config;
use lambda_runtime::{service_fn, LambdaEvent};

#[path = "common/cli.rs"]
mod cli;

const USAGE: &str = "\
viewer-request: the Lambda@Edge viewer-request handler of edge-resize. It rewrites
/image/x.jpg?d=100 to the canonical variant URI /image/100x100/x.jpg (no I/O).

Usage:
  viewer-request              inside Lambda: serve events from AWS_LAMBDA_RUNTIME_API
  viewer-request --help       this text
  viewer-request --version

Configuration: edge-resize.json next to this binary, or the file named by
EDGE_RESIZE_CONFIG. To run the handler outside Lambda on one event:
  edge-resize invoke viewer-request < event.json
";

fn main() -> ExitCode {
    match cli::start("viewer-request", USAGE, None) {
        cli::Start::Lambda => run(),
        cli::Start::Flag => ExitCode::from(2),
        cli::Start::Exit(code) => code,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    let cfg = match Config::load_bundled() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("viewer-request: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = lambda_runtime::run(service_fn(|ev: LambdaEvent<Event>| {
        let r: Result<ViewerResult, lambda_runtime::Error> = Ok(viewer_request_event(ev.payload, &cfg));
        async move { r }
    }))
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("viewer-request: {e}");
            ExitCode::FAILURE
        }
    }
}
