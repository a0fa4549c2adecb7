//! CloudFront CreateInvalidation through aws-sdk-cloudfront (`AWS_ENDPOINT_URL` honoured).

use aws_sdk_cloudfront::error::ProvideErrorMetadata;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_cloudfront::Client;

use super::{Batch, CdnError, Invalidator};

#[derive(Clone)]
pub struct CloudFrontInvalidator {
    client: Client,
    distribution_id: String,
}

impl CloudFrontInvalidator {
    pub fn new(client: Client, distribution_id: impl Into<String>) -> Self {
        CloudFrontInvalidator { client, distribution_id: distribution_id.into() }
    }

    pub async fn from_env(distribution_id: impl Into<String>) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Self::new(Client::new(&sdk), distribution_id)
    }
}

impl Invalidator for CloudFrontInvalidator {
    async fn invalidate(&self, batch: &Batch) -> Result<String, CdnError> {
        let rejected = |e: &dyn std::fmt::Display| CdnError::Rejected(e.to_string());
        // Quantity must equal the number of items (a seed's bug sent 1 with many).
        let paths = Paths::builder()
            .quantity(batch.paths.len() as i32)
            .set_items(Some(batch.paths.clone()))
            .build()
            .map_err(|e| rejected(&e))?;
        let ib = InvalidationBatch::builder()
            .paths(paths)
            .caller_reference(&batch.caller_reference)
            .build()
            .map_err(|e| rejected(&e))?;
        let out = self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(ib)
            .send()
            .await
            .map_err(|e| {
                let msg = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
                // Too many in progress (3,000 paths or 15 wildcards) is a 400 that clears by
                // itself: retry later, as for throttling and 5xx.
                let busy = e.code() == Some("TooManyInvalidationsInProgress");
                match e.raw_response().map(|r| r.status().as_u16()) {
                    Some(s) if s < 500 && s != 429 && !busy => CdnError::Rejected(msg),
                    _ => CdnError::Unavailable(msg),
                }
            })?;
        Ok(out.invalidation().map(|i| i.id().to_string()).unwrap_or_default())
    }
}
