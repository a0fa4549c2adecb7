//! Lambda@Edge origin-response: make a missing variant from the original in S3.
use std::process::ExitCode;
use std::sync::Arc;

use edge_resize::cloudfront::{Event, Response};
use edge_resize::edge::origin::origin_response_event_measured;
use edge_resize::edge::Deadline;
use edge_resize::metrics::{emf_line, now_ms};
use edge_resize::store::{s3_client, S3Store};
use edge_resize::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use tokio::sync::OnceCell;

#[path = "common/cli.rs"]
mod cli;

const USAGE: &str = "\
origin-response: the Lambda@Edge origin-response handler of edge-resize. When S3 has no
variant (403/404), it reads the original, resizes it, stores the variant and returns it.

Usage:
  origin-response             inside Lambda: serve events from AWS_LAMBDA_RUNTIME_API
  origin-response --help      this text
  origin-response --version

Configuration: edge-resize.json next to this binary, or the file named by
EDGE_RESIZE_CONFIG. To run the handler outside Lambda on one event (S3 from the
environment, AWS_ENDPOINT_URL honoured):
  edge-resize invoke origin-response < event.json
";

fn main() -> ExitCode {
    match cli::start("origin-response", USAGE, None) {
        cli::Start::Lambda => match run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("origin-response: {e}");
                ExitCode::FAILURE
            }
        },
        cli::Start::Flag => ExitCode::from(2),
        cli::Start::Exit(code) => code,
    }
}

#[tokio::main]
async fn run() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let cfg = Config::load_bundled()?;
    cfg.check_encoders()?;
    let cfg = Arc::new(cfg);
    // The client is built once per execution environment, for the first event's region.
    let client: Arc<OnceCell<aws_sdk_s3::Client>> = Arc::new(OnceCell::new());
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Event>| {
        let (cfg, client) = (cfg.clone(), client.clone());
        async move {
            let region =
                ev.payload.records.first().and_then(|r| edge_resize::edge::origin::target_region(&r.cf.request, &cfg));
            let c = client.get_or_init(|| s3_client(region)).await.clone();
            let deadline = Deadline::for_invocation(&cfg, ev.context.deadline);
            let (r, measured): (Response, _) =
                origin_response_event_measured(ev.payload, &cfg, deadline, |bucket, _| {
                    S3Store::new(c, bucket, cfg.clone())
                })
                .await;
            // One EMF line on stdout: Lambda sends it to CloudWatch Logs, which turns it into
            // metrics (no API call, nothing added to the answer's latency but the write).
            println!("{}", emf_line(&measured.emf("origin-response", now_ms())));
            Ok::<Response, Error>(r)
        }
    }))
    .await
}
