//! The local edge's invalidation: drop the paths from `serve`'s cache.

use std::sync::Arc;

use super::{Batch, CdnError, Invalidator};
use crate::serve::Edge;

#[derive(Clone)]
pub struct LocalInvalidator {
    edge: Arc<Edge>,
}

impl LocalInvalidator {
    pub fn new(edge: Arc<Edge>) -> Self {
        LocalInvalidator { edge }
    }
}

impl Invalidator for LocalInvalidator {
    async fn invalidate(&self, batch: &Batch) -> Result<String, CdnError> {
        let n = self.edge.invalidate(&batch.paths).await;
        Ok(format!("local-{}-{n}", batch.caller_reference))
    }
}
