//! The variant lifecycle (DESIGN §5): when an original is overwritten or deleted, find
//! which of its variants are stored, delete the stale ones and invalidate exactly their
//! canonical paths and the original's own. Runs as a regional Lambda on S3 notifications
//! (directly, through SQS with partial-batch failures, or from EventBridge).
//!
//! `event` reads the payloads, `plan` decides (pure), `find` looks (HEAD, bounded), `owed`
//! keeps what a failed run still owes the CDN, `ledger` pays from the daily budget; this
//! module runs them in order: look, record what will be owed, delete, pay, invalidate.

pub mod event;
pub mod find;
pub mod ledger;
pub mod owed;
pub mod plan;

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::Value;

use crate::cdn::{collapse, CdnError, Invalidator};
use crate::metrics::JanitorRun;
use crate::spec::{Key, SpecError};
use crate::store::{S3Store, Store, StoreError};
use crate::Config;
use event::{EventError, ObjectEvent};
use ledger::{Ask, Budget, Decision};
use plan::Cleanup;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JanitorError {
    #[error("unreadable event: {0}")]
    Event(#[from] EventError),
    #[error(transparent)]
    Key(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cdn(#[from] CdnError),
}

/// Paths left cached, and for how long at most.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stale {
    pub paths: Vec<String>,
    /// Seconds: the `s-maxage` stored variants carry (`cdn_max_age_s`).
    pub for_at_most_s: u32,
    pub reason: &'static str,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// Variant keys deleted (dry run: to delete): exactly the stale ones found.
    pub deletes: Vec<String>,
    pub deleted: usize,
    /// Stored variants already made from the current original: kept, not invalidated.
    pub fresh: Vec<String>,
    /// Paths sent in the invalidation (dry run: to send), exactly as sent.
    pub paths: Vec<String>,
    /// Paths the daily budget leaves cached.
    pub stale: Option<Stale>,
    /// HeadObject requests made to find what is stored.
    pub heads: usize,
    pub caller_reference: Option<String>,
    /// `spend`, `already-done`, `exhausted`, `no-distribution` or `dry-run`.
    pub invalidation: Option<String>,
    pub invalidation_id: Option<String>,
    /// Invalidation paths left in today's budget after this run, when the ledger was spent from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_left: Option<u32>,
}

impl Report {
    /// The run's metrics (the binary logs them as an EMF line).
    pub fn measured(&self) -> JanitorRun {
        let sent = self.invalidation.as_deref() == Some("spend") && !self.dry_run;
        JanitorRun {
            objects_deleted: if self.dry_run { 0 } else { self.deleted as u64 },
            paths_invalidated: if sent { self.paths.len() as u64 } else { 0 },
            budget_left: self.budget_left.map(u64::from),
            failed: false,
        }
    }
}

pub struct Janitor<I: Invalidator> {
    pub cfg: Arc<Config>,
    pub s3: aws_sdk_s3::Client,
    /// `None`: delete variants, invalidate nothing (no distribution configured).
    pub cdn: Option<I>,
    /// Read what is stored and the ledger, write and invalidate nothing.
    pub dry_run: bool,
}

impl<I: Invalidator> Janitor<I> {
    fn store(&self, bucket: &str) -> S3Store {
        S3Store::new(self.s3.clone(), bucket, self.cfg.clone())
    }

    /// Look, decide, and (unless dry) act for a batch of events.
    pub async fn run(&self, events: &[ObjectEvent]) -> Result<Report, JanitorError> {
        let work = plan::work(events, &self.cfg);
        let mut report = Report { dry_run: self.dry_run, ..Report::default() };
        let mut cleanups: Vec<Cleanup> = Vec::new();
        for (bucket, originals) in &work.originals {
            let lookup = find::find(&self.store(bucket), originals, &self.cfg).await?;
            report.heads += lookup.heads;
            for (original, found) in lookup.found {
                let owed = match &self.cdn {
                    Some(_) => owed::read(&self.s3, bucket, &self.owed_key(&original)).await?,
                    None => Vec::new(),
                };
                cleanups.push(plan::judge(bucket, &original, &found, &owed));
            }
        }
        report.deletes = cleanups.iter().flat_map(|c| &c.stale).map(Key::to_string).collect();
        report.fresh = cleanups.iter().flat_map(|c| &c.fresh).map(Key::to_string).collect();
        // `.purge` is the operator's wildcard and covers everything else in the batch.
        let paths = if work.purge {
            vec![format!("{}*", self.cfg.prefix)]
        } else {
            collapse(&plan::batch_paths(&cleanups), self.cfg.wildcard_after)
        };
        let salt = plan::batch_salt(&work, &cleanups);
        let ask = Ask { paths: &paths, salt: &salt, purge: work.purge };
        let ledger_bucket = work.ledger_bucket.as_deref().unwrap_or_default();
        if self.dry_run {
            return self.dry(report, ledger_bucket, ask).await;
        }
        if self.cdn.is_some() {
            self.owe(&cleanups).await?;
        }
        for bucket in work.originals.keys() {
            let stale: Vec<Key> =
                cleanups.iter().filter(|c| c.bucket == *bucket).flat_map(|c| c.stale.clone()).collect();
            if !stale.is_empty() {
                report.deleted += self.store(bucket).delete_variants(&stale).await?.len();
            }
        }
        let Some(cdn) = &self.cdn else {
            report.invalidation = Some("no-distribution".into());
            return Ok(report);
        };
        if !paths.is_empty() {
            self.invalidate(cdn, ledger_bucket, ask, &mut report).await?;
        }
        self.settle(&cleanups).await;
        Ok(report)
    }

    /// The dry run's answer: what would be deleted, and what today's ledger would let it
    /// send (read, not written). Without a distribution, the paths it would send to one.
    async fn dry(&self, mut report: Report, ledger_bucket: &str, ask: Ask<'_>) -> Result<Report, JanitorError> {
        report.deleted = report.deletes.len();
        if self.cdn.is_some() && !ask.paths.is_empty() {
            let d = ledger::peek(&self.s3, ledger_bucket, &self.cfg.ledger_key, ask, Budget::of(&self.cfg)).await?;
            self.record(&d, &mut report);
        } else if !ask.paths.is_empty() {
            let batch = crate::cdn::Batch::new(ask.paths.iter().cloned(), ask.salt);
            report.paths = batch.paths;
            report.caller_reference = Some(batch.caller_reference);
        }
        report.invalidation = Some("dry-run".into());
        Ok(report)
    }

    fn owed_key(&self, original: &Key) -> String {
        owed::owed_key(&self.cfg.ledger_key, original)
    }

    /// Before deleting: record, per original, the paths this run is about to owe the CDN.
    async fn owe(&self, cleanups: &[Cleanup]) -> Result<(), JanitorError> {
        for c in cleanups.iter().filter(|c| !c.stale.is_empty()) {
            let record = owed::Owed { original: c.original.to_string(), paths: c.paths.clone() };
            owed::write(&self.s3, &c.bucket, &self.owed_key(&c.original), &record).await?;
        }
        Ok(())
    }

    /// After paying (or being refused, which the report says): nothing is owed any more.
    /// Best effort: a record left behind only makes a later run invalidate its paths again.
    async fn settle(&self, cleanups: &[Cleanup]) {
        for c in cleanups.iter().filter(|c| c.paths.len() > 1) {
            if let Err(e) = owed::clear(&self.s3, &c.bucket, &self.owed_key(&c.original)).await {
                tracing::warn!(original = %c.original, error = %e, "could not clear owed paths");
            }
        }
    }

    fn record(&self, d: &Decision, report: &mut Report) {
        report.invalidation = Some(d.name().into());
        if let Decision::Spend { batch, .. } | Decision::AlreadyDone { batch } = d {
            report.paths = batch.paths.clone();
            report.caller_reference = Some(batch.caller_reference.clone());
        }
        if !d.stale().is_empty() {
            report.stale = Some(Stale {
                paths: d.stale().to_vec(),
                for_at_most_s: self.cfg.cdn_max_age_s,
                reason: "over today's invalidation budget (invalidation_paths_per_day, purges_per_day)",
            });
        }
    }

    async fn invalidate(
        &self,
        cdn: &I,
        ledger_bucket: &str,
        ask: Ask<'_>,
        report: &mut Report,
    ) -> Result<(), JanitorError> {
        let key = &self.cfg.ledger_key;
        let (decision, left) = ledger::spend(&self.s3, ledger_bucket, key, ask, Budget::of(&self.cfg)).await?;
        report.budget_left = left;
        self.record(&decision, report);
        if let Some(stale) = &report.stale {
            tracing::warn!(
                paths = ?stale.paths,
                for_at_most_s = stale.for_at_most_s,
                "invalidation budget spent: these paths stay cached (their variants were deleted)"
            );
        }
        let Decision::Spend { batch, .. } = &decision else {
            tracing::info!(decision = decision.name(), "no invalidation sent");
            return Ok(());
        };
        match cdn.invalidate(batch).await {
            Ok(id) => {
                tracing::info!(id, paths = batch.paths.len(), "invalidation created");
                report.invalidation_id = Some(id);
                Ok(())
            }
            Err(e) => {
                ledger::release(&self.s3, ledger_bucket, key, batch, ask).await;
                Err(e.into())
            }
        }
    }

    /// Any payload the janitor is invoked with: an SQS batch (answered with partial-batch
    /// failures), or an S3 notification, SNS notification or EventBridge event (answered
    /// with the report; an error makes Lambda retry the invocation).
    pub async fn handle(&self, payload: Value) -> Result<Value, JanitorError> {
        self.handle_measured(payload).await.map(|(v, _)| v)
    }

    /// [`Janitor::handle`], with the run's metrics.
    pub async fn handle_measured(&self, payload: Value) -> Result<(Value, JanitorRun), JanitorError> {
        let source = payload.pointer("/Records/0/eventSource").and_then(Value::as_str).unwrap_or("");
        if source == "aws:sqs" {
            let sqs: SqsEvent = serde_json::from_value(payload).map_err(|e| EventError::Json(e.to_string()))?;
            let (resp, run) = self.handle_sqs_measured(&sqs).await;
            return Ok((serde_json::to_value(resp).unwrap_or(Value::Null), run));
        }
        let events = event::object_events(&payload)?;
        let report = self.run(&events).await?;
        let run = report.measured();
        Ok((serde_json::to_value(report).unwrap_or(Value::Null), run))
    }

    /// An SQS batch: malformed messages are reported as failed on their own; the rest are
    /// planned together (paths deduplicated across the batch) and fail together if the
    /// lookup, the deletes or the invalidation fail, so SQS redelivers them (then the DLQ).
    pub async fn handle_sqs(&self, ev: &SqsEvent) -> SqsBatchResponse {
        self.handle_sqs_measured(ev).await.0
    }

    /// [`Janitor::handle_sqs`], with the batch's metrics (`failed` if any message failed).
    pub async fn handle_sqs_measured(&self, ev: &SqsEvent) -> (SqsBatchResponse, JanitorRun) {
        let mut failures = Vec::new();
        let mut good_ids = Vec::new();
        let mut events = Vec::new();
        for m in &ev.records {
            let id = m.message_id.clone().unwrap_or_default();
            match event::object_events_of_str(m.body.as_deref().unwrap_or("")) {
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
        let mut run = JanitorRun::default();
        match self.run(&events).await {
            Ok(report) => run = report.measured(),
            Err(e) => {
                tracing::error!(error = %e, "batch failed; SQS will redeliver it");
                failures.extend(good_ids);
            }
        }
        run.failed = !failures.is_empty();
        let resp = SqsBatchResponse {
            batch_item_failures: failures.into_iter().map(|id| BatchItemFailure { item_identifier: id }).collect(),
        };
        (resp, run)
    }
}
