//! Lambda@Edge viewer-request: canonical rewrite, no I/O.
use edge_resize::cloudfront::{Event, ViewerResult};
use edge_resize::edge::viewer_request_event;
use edge_resize::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let cfg = Config::load_bundled()?;
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Event>| {
        let r: Result<ViewerResult, Error> = Ok(viewer_request_event(ev.payload, &cfg));
        async move { r }
    }))
    .await
}
