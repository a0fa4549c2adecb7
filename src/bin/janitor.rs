//! The janitor: a regional Lambda (provided.al2023) on S3 notifications, directly, through
//! SQS or from EventBridge. `janitor --dry-run < event.json` prints the plan and changes nothing.
use std::process::ExitCode;
use std::sync::Arc;

use edge_resize::cdn::CloudFrontInvalidator;
use edge_resize::janitor::Janitor;
use edge_resize::metrics::{emf_line, now_ms, JanitorRun};
use edge_resize::store::s3_client;
use edge_resize::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[path = "common/cli.rs"]
mod cli;

const USAGE: &str = "\
janitor: deletes the stale stored variants of changed or deleted originals and invalidates
exactly their CloudFront paths and the original's own (edge-resize).

Usage:
  janitor                         inside Lambda: serve events from AWS_LAMBDA_RUNTIME_API
  janitor --dry-run < event.json  read S3 (HEAD on the allow-listed variant keys, the
                                  invalidation ledger) but write, delete and invalidate
                                  nothing; print the exact deletes and paths as JSON
  janitor --help | --version

The event is what Lambda would receive: an S3 notification, an SQS batch of them, an SNS
notification or an EventBridge \"Object Created\"/\"Object Deleted\" event.

Environment:
  EDGE_RESIZE_DISTRIBUTION_ID  the CloudFront distribution (else `distribution_id` in the
                               config; without either nothing is invalidated)
  EDGE_RESIZE_CONFIG           the configuration file (default: edge-resize.json next to
                               this binary, else the built-in defaults)
  AWS_REGION, AWS_ENDPOINT_URL and the usual AWS credentials
";

fn main() -> ExitCode {
    let dry_run = match cli::start("janitor", USAGE, Some("--dry-run")) {
        cli::Start::Lambda => false,
        cli::Start::Flag => true,
        cli::Start::Exit(code) => return code,
    };
    match run(dry_run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("janitor: {e}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run(dry_run: bool) -> Result<(), Error> {
    let cfg = Arc::new(Config::load_bundled()?);
    let distribution = std::env::var("EDGE_RESIZE_DISTRIBUTION_ID").ok().or_else(|| cfg.distribution_id.clone());
    let cdn = match distribution {
        Some(d) => Some(CloudFrontInvalidator::from_env(d).await),
        None => None,
    };
    let janitor = Arc::new(Janitor { cfg: cfg.clone(), s3: s3_client(cfg.region.clone()).await, cdn, dry_run });
    if dry_run {
        let ev: Value = serde_json::from_reader(std::io::stdin())?;
        println!("{}", serde_json::to_string_pretty(&janitor.handle(ev).await?)?);
        return Ok(());
    }
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Value>| {
        let j = janitor.clone();
        async move {
            let measured = j.handle_measured(ev.payload).await;
            let run = match &measured {
                Ok((_, run)) => *run,
                Err(_) => JanitorRun { failed: true, ..JanitorRun::default() },
            };
            // One EMF line on stdout: CloudWatch Logs extracts the metrics (no API call).
            println!("{}", emf_line(&run.emf("janitor", now_ms())));
            Ok::<Value, Error>(measured?.0)
        }
    }))
    .await
}
