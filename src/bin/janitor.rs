//! The janitor: a regional Lambda (provided.al2023) on S3 notifications, directly or
//! through SQS. `janitor --dry-run < event.json` prints the plan without touching anything.
use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use edge_resize::cdn::CloudFrontInvalidator;
use edge_resize::janitor::Janitor;
use edge_resize::store::s3_client;
use edge_resize::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let dry_run = std::env::args().any(|a| a == "--dry-run");
    let cfg = Arc::new(Config::load_bundled()?);
    let distribution = std::env::var("EDGE_RESIZE_DISTRIBUTION_ID").ok().or_else(|| cfg.distribution_id.clone());
    let cdn = match distribution {
        Some(d) => Some(CloudFrontInvalidator::from_env(d).await),
        None => None,
    };
    let janitor = Arc::new(Janitor { cfg: cfg.clone(), s3: s3_client(cfg.region.clone()).await, cdn, dry_run });
    if dry_run {
        let ev: Value = serde_json::from_reader(std::io::stdin())?;
        println!("{}", serde_json::to_string_pretty(&handle(&janitor, ev).await?)?);
        return Ok(());
    }
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Value>| {
        let j = janitor.clone();
        async move { handle(&j, ev.payload).await }
    }))
    .await
}

/// SQS batches answer with partial-batch failures; direct S3 events with a report.
async fn handle(j: &Janitor<CloudFrontInvalidator>, ev: Value) -> Result<Value, Error> {
    let source = ev.pointer("/Records/0/eventSource").and_then(Value::as_str).unwrap_or("");
    if source == "aws:sqs" {
        let sqs: SqsEvent = serde_json::from_value(ev)?;
        return Ok(serde_json::to_value(j.handle_sqs(&sqs).await)?);
    }
    let s3: S3Event = serde_json::from_value(ev)?;
    Ok(serde_json::to_value(j.handle_s3(&s3).await?)?)
}
