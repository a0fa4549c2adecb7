//! Lambda@Edge origin-response: make a missing variant from the original in S3.
use std::sync::Arc;

use edge_resize::cloudfront::{Event, Response};
use edge_resize::edge::{origin_response_event, Deadline};
use edge_resize::store::{s3_client, S3Store};
use edge_resize::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let cfg = Arc::new(Config::load_bundled()?);
    // The client is built once per execution environment, for the first event's region.
    let client: Arc<OnceCell<aws_sdk_s3::Client>> = Arc::new(OnceCell::new());
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Event>| {
        let (cfg, client) = (cfg.clone(), client.clone());
        async move {
            let region =
                ev.payload.records.first().and_then(|r| edge_resize::edge::origin::target_region(&r.cf.request, &cfg));
            let c = client.get_or_init(|| s3_client(region)).await.clone();
            let deadline = Deadline::for_invocation(&cfg, ev.context.deadline);
            let r: Response =
                origin_response_event(ev.payload, &cfg, deadline, |bucket, _| S3Store::new(c, bucket, cfg.clone()))
                    .await;
            Ok::<Response, Error>(r)
        }
    }))
    .await
}
