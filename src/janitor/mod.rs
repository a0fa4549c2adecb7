//! The variant lifecycle (DESIGN §5): when an original is overwritten or deleted, delete
//! its variants and invalidate their canonical paths and its own. Runs as a regional
//! Lambda on S3 notifications, directly or through SQS (with partial-batch failures).
//!
//! `plan` decides (pure); this module executes: DeleteObjects through the guarded store,
//! then one CreateInvalidation per batch, paid for from the daily `ledger`.

pub mod ledger;
pub mod plan;

use std::sync::Arc;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::cdn::{plan_batch, Batch, CdnError, Invalidator};
use crate::spec::SpecError;
use crate::store::{S3Store, Store, StoreError};
use crate::Config;
use ledger::Decision;
use plan::{decode_event_key, Change, ObjectEvent, Plan};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JanitorError {
    #[error("malformed S3 event record: {0}")]
    Malformed(String),
    #[error(transparent)]
    Key(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cdn(#[from] CdnError),
}

/// What a run did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub deleted: usize,
    pub paths: Vec<String>,
    pub caller_reference: Option<String>,
    /// `spend`, `already-done`, `exhausted`, `no-distribution` or `dry-run`.
    pub invalidation: Option<String>,
    pub invalidation_id: Option<String>,
}

pub struct Janitor<I: Invalidator> {
    pub cfg: Arc<Config>,
    pub s3: aws_sdk_s3::Client,
    /// `None`: delete variants, invalidate nothing (no distribution configured).
    pub cdn: Option<I>,
    pub dry_run: bool,
}

/// One S3 notification record as an `ObjectEvent`; `None` for events we do not act on
/// (s3:TestEvent, restores, tagging...).
pub fn object_event(r: &S3EventRecord) -> Result<Option<ObjectEvent>, JanitorError> {
    let name = r.event_name.as_deref().unwrap_or("");
    let change = if name.starts_with("ObjectCreated:") {
        Change::Created
    } else if name.starts_with("ObjectRemoved:") {
        Change::Removed
    } else {
        return Ok(None);
    };
    let bucket =
        r.s3.bucket
            .name
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| JanitorError::Malformed("no bucket".into()))?;
    let raw = r.s3.object.key.as_deref().ok_or_else(|| JanitorError::Malformed("no key".into()))?;
    Ok(Some(ObjectEvent { bucket, key: decode_event_key(raw)?, change }))
}

/// Parse an SQS message body holding an S3 notification (an `s3:TestEvent` is empty).
pub fn events_of_body(body: &str) -> Result<Vec<ObjectEvent>, JanitorError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| JanitorError::Malformed(e.to_string()))?;
    if v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let ev: S3Event = serde_json::from_value(v).map_err(|e| JanitorError::Malformed(e.to_string()))?;
    if ev.records.is_empty() {
        return Err(JanitorError::Malformed("no Records".into()));
    }
    ev.records.iter().filter_map(|r| object_event(r).transpose()).collect()
}

impl<I: Invalidator> Janitor<I> {
    /// Plan and execute for a batch of events.
    pub async fn run(&self, events: &[ObjectEvent]) -> Result<Report, JanitorError> {
        let p: Plan = plan::plan(events, &self.cfg);
        let paths: Vec<String> = p.paths.iter().cloned().collect();
        let batch = plan_batch(&paths, &self.cfg.prefix, self.cfg.wildcard_after);
        let mut report = Report {
            paths: batch.as_ref().map(|b| b.paths.clone()).unwrap_or_default(),
            caller_reference: batch.as_ref().map(|b| b.caller_reference.clone()),
            ..Report::default()
        };
        if self.dry_run {
            report.deleted = p.deletes.values().map(|k| k.len()).sum();
            report.invalidation = Some("dry-run".into());
            tracing::info!(plan = ?p, "dry run");
            return Ok(report);
        }
        for (bucket, keys) in &p.deletes {
            let keys: Vec<_> = keys.iter().cloned().collect();
            let store = S3Store::new(self.s3.clone(), bucket, self.cfg.clone());
            report.deleted += store.delete_variants(&keys).await?.len();
        }
        let (Some(batch), Some(ledger_bucket)) = (batch, events.first().map(|e| e.bucket.as_str())) else {
            return Ok(report);
        };
        let Some(cdn) = &self.cdn else {
            report.invalidation = Some("no-distribution".into());
            return Ok(report);
        };
        self.invalidate(cdn, &batch, ledger_bucket, &mut report).await?;
        Ok(report)
    }

    async fn invalidate(
        &self,
        cdn: &I,
        batch: &Batch,
        ledger_bucket: &str,
        report: &mut Report,
    ) -> Result<(), JanitorError> {
        let key = &self.cfg.ledger_key;
        let decision =
            ledger::spend(&self.s3, ledger_bucket, key, &batch.caller_reference, self.cfg.invalidations_per_day)
                .await?;
        report.invalidation = Some(
            match decision {
                Decision::Spend => "spend",
                Decision::AlreadyDone => "already-done",
                Decision::Exhausted => "exhausted",
            }
            .into(),
        );
        match decision {
            Decision::Spend => match cdn.invalidate(batch).await {
                Ok(id) => {
                    tracing::info!(id, paths = batch.paths.len(), "invalidation created");
                    report.invalidation_id = Some(id);
                }
                Err(e) => {
                    ledger::release(&self.s3, ledger_bucket, key, &batch.caller_reference).await;
                    return Err(e.into());
                }
            },
            Decision::AlreadyDone => tracing::info!(reference = %batch.caller_reference, "already invalidated"),
            Decision::Exhausted => tracing::warn!(
                paths = ?batch.paths,
                per_day = self.cfg.invalidations_per_day,
                "invalidation budget exhausted: skipped (variants were deleted; cached copies expire by Cache-Control)"
            ),
        }
        Ok(())
    }

    /// An S3 notification delivered directly.
    pub async fn handle_s3(&self, ev: &S3Event) -> Result<Report, JanitorError> {
        let events = ev.records.iter().filter_map(|r| object_event(r).transpose()).collect::<Result<Vec<_>, _>>()?;
        self.run(&events).await
    }

    /// An SQS batch: malformed messages are reported as failed on their own; the rest are
    /// planned together (paths deduplicated across the batch) and fail together if the
    /// deletes or the invalidation fail, so SQS redelivers them (then the DLQ).
    pub async fn handle_sqs(&self, ev: &SqsEvent) -> SqsBatchResponse {
        let mut failures = Vec::new();
        let mut good_ids = Vec::new();
        let mut events = Vec::new();
        for m in &ev.records {
            let id = m.message_id.clone().unwrap_or_default();
            match events_of_body(m.body.as_deref().unwrap_or("")) {
                Ok(evs) => {
                    events.extend(evs);
                    good_ids.push(id);
                }
                Err(e) => {
                    tracing::warn!(message_id = %id, error = %e, "malformed message");
                    failures.push(id);
                }
            }
        }
        if let Err(e) = self.run(&events).await {
            tracing::error!(error = %e, "batch failed; SQS will redeliver it");
            failures.extend(good_ids);
        }
        SqsBatchResponse {
            batch_item_failures: failures.into_iter().map(|id| BatchItemFailure { item_identifier: id }).collect(),
        }
    }
}
