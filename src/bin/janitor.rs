//! The janitor: a regional Lambda (provided.al2023) on S3 notifications, directly, through
//! SQS or from EventBridge. `janitor --dry-run < event.json` prints the plan and changes nothing.
use std::sync::Arc;

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
        println!("{}", serde_json::to_string_pretty(&janitor.handle(ev).await?)?);
        return Ok(());
    }
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Value>| {
        let j = janitor.clone();
        async move { Ok::<Value, Error>(j.handle(ev.payload).await?) }
    }))
    .await
}
