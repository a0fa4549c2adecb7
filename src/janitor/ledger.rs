//! The invalidation budget: a small JSON object in S3 counting today's invalidation paths,
//! purges and CreateInvalidation CallerReferences, updated with conditional writes
//! (If-Match / If-None-Match,
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html>) so two
//! janitors running at once can neither overspend nor repeat a batch.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};

use crate::cdn::{Batch, MAX_PATHS};
use crate::store::StoreError;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ledger {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Invalidation paths paid for today (a wildcard is one).
    pub paths: u32,
    /// `.purge` invalidations today.
    pub purges: u32,
    /// CallerReferences done today.
    pub done: Vec<String>,
}

/// Today's allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub paths_per_day: u32,
    pub purges_per_day: u32,
}

impl Budget {
    pub fn of(cfg: &crate::Config) -> Self {
        Budget { paths_per_day: cfg.invalidation_paths_per_day, purges_per_day: cfg.purges_per_day }
    }
}

/// What the ledger allows for a batch of paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Counted: send `batch`. `stale` are the paths over today's budget (or over
    /// CloudFront's 3,000 paths in one request), left out and reported.
    Spend { batch: Batch, stale: Vec<String> },
    /// This exact batch was already invalidated today (a redelivery).
    AlreadyDone { batch: Batch },
    /// Nothing left today: every path is left out.
    Exhausted { stale: Vec<String> },
}

impl Decision {
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Spend { .. } => "spend",
            Decision::AlreadyDone { .. } => "already-done",
            Decision::Exhausted { .. } => "exhausted",
        }
    }

    /// The paths this decision leaves cached.
    pub fn stale(&self) -> &[String] {
        match self {
            Decision::Spend { stale, .. } | Decision::Exhausted { stale } => stale,
            Decision::AlreadyDone { .. } => &[],
        }
    }
}

/// What to pay for: paths in the order they should be paid for, what they are for
/// (`Batch::new`'s salt), and whether they are the operator's whole-prefix purge, which
/// also needs a purge from `purges_per_day`.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub paths: &'a [String],
    pub salt: &'a str,
    pub purge: bool,
}

/// Pure: what today's ledger allows for `ask`, and the ledger after spending.
pub fn decide(current: Option<Ledger>, today: &str, ask: Ask<'_>, budget: Budget) -> (Decision, Option<Ledger>) {
    let Ask { paths, salt, purge } = ask;
    let mut l = current.filter(|l| l.day == today).unwrap_or_else(|| Ledger { day: today.into(), ..Ledger::default() });
    let whole = Batch::new(paths.iter().cloned(), salt);
    let events = events_reference(salt);
    // The same events again (a redelivery after success): their variants are gone, so the
    // paths differ, but the work was done.
    if l.done.contains(&whole.caller_reference) || l.done.contains(&events) {
        return (Decision::AlreadyDone { batch: whole }, None);
    }
    let left = budget.paths_per_day.saturating_sub(l.paths) as usize;
    if left == 0 || (purge && l.purges >= budget.purges_per_day) {
        return (Decision::Exhausted { stale: paths.to_vec() }, None);
    }
    let n = paths.len().min(left).min(MAX_PATHS);
    let batch = Batch::new(paths[..n].iter().cloned(), salt);
    if l.done.contains(&batch.caller_reference) {
        return (Decision::AlreadyDone { batch }, None);
    }
    l.paths += batch.paths.len() as u32;
    l.purges += u32::from(purge);
    l.done.push(batch.caller_reference.clone());
    l.done.push(events);
    (Decision::Spend { batch, stale: paths[n..].to_vec() }, Some(l))
}

/// What the ledger records for a set of events (the batch's salt), whatever the paths.
pub fn events_reference(salt: &str) -> String {
    Batch::new([], salt).caller_reference.replacen("edge-resize-", "events-", 1)
}

/// Today's UTC date from the system clock.
pub fn today() -> String {
    crate::edge::http_date::day(std::time::SystemTime::now())
}

/// Read the ledger (`None` when there is none yet) and its ETag.
async fn read(client: &Client, bucket: &str, key: &str) -> Result<(Option<Ledger>, Option<String>), StoreError> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => {
            let etag = o.e_tag().map(str::to_string);
            let body = o.body.collect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?.into_bytes();
            Ok((serde_json::from_slice::<Ledger>(&body).ok(), etag))
        }
        Err(e) => match crate::store::s3::classify(key, e, true) {
            StoreError::NotFound(_) => Ok((None, None)),
            other => Err(other),
        },
    }
}

/// What spending would decide, without writing (the dry run).
pub async fn peek(
    client: &Client,
    bucket: &str,
    key: &str,
    ask: Ask<'_>,
    budget: Budget,
) -> Result<Decision, StoreError> {
    let (current, _) = read(client, bucket, key).await?;
    Ok(decide(current, &today(), ask, budget).0)
}

/// Spend from the ledger at `bucket`/`key` for `ask`, retrying lost races a few times.
/// Also answers the paths left in today's budget after it, when known (not for a batch
/// already done).
pub async fn spend(
    client: &Client,
    bucket: &str,
    key: &str,
    ask: Ask<'_>,
    budget: Budget,
) -> Result<(Decision, Option<u32>), StoreError> {
    for _ in 0..5 {
        let (current, etag) = read(client, bucket, key).await?;
        let (decision, next) = decide(current, &today(), ask, budget);
        let Some(next) = next else {
            let left = matches!(decision, Decision::Exhausted { .. }).then_some(0);
            return Ok((decision, left));
        };
        let left = budget.paths_per_day.saturating_sub(next.paths);
        let body = serde_json::to_vec(&next).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut put =
            client.put_object().bucket(bucket).key(key).content_type("application/json").body(ByteStream::from(body));
        put = match etag {
            Some(t) => put.if_match(t),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => return Ok((decision, Some(left))),
            Err(e) => {
                match crate::store::s3::classify(key, e, false) {
                    // 412, or 409 when a concurrent If-None-Match create is in flight: re-read.
                    StoreError::PreconditionFailed(_) => continue,
                    StoreError::Other(m) if m.contains(" 409 ") => continue,
                    other => return Err(other),
                }
            }
        }
    }
    Err(StoreError::Unavailable(format!("{key}: too much contention on the ledger")))
}

/// Give back a spent batch whose invalidation failed, so the redelivery can retry it.
/// Best effort: if this fails, the batch is at worst skipped as already done.
pub async fn release(client: &Client, bucket: &str, key: &str, batch: &Batch, ask: Ask<'_>) {
    let events = events_reference(ask.salt);
    for _ in 0..3 {
        let Ok((Some(mut l), etag)) = read(client, bucket, key).await else { return };
        let before = l.done.len();
        l.done.retain(|d| *d != batch.caller_reference && *d != events);
        if l.done.len() == before {
            return;
        }
        l.paths = l.paths.saturating_sub(batch.paths.len() as u32);
        l.purges = l.purges.saturating_sub(u32::from(ask.purge));
        let Ok(bytes) = serde_json::to_vec(&l) else { return };
        let mut put = client.put_object().bucket(bucket).key(key).body(ByteStream::from(bytes));
        if let Some(t) = etag {
            put = put.if_match(t);
        }
        if put.send().await.is_ok() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Budget = Budget { paths_per_day: 5, purges_per_day: 1 };

    fn paths(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("/image/{i}.jpg")).collect()
    }

    fn ask(paths: &[String]) -> Ask<'_> {
        Ask { paths, salt: "change-1", purge: false }
    }

    #[test]
    fn paths_are_counted_and_redeliveries_are_free() {
        let (d, l) = decide(None, "2026-11-28", ask(&paths(3)), B);
        assert!(matches!(&d, Decision::Spend { batch, stale } if batch.paths.len() == 3 && stale.is_empty()));
        assert_eq!(l.as_ref().map(|l| l.paths), Some(3));
        let (d, none) = decide(l.clone(), "2026-11-28", ask(&paths(3)), B);
        assert_eq!((d.name(), none), ("already-done", None));
        // Redelivered after success: the variants are gone, the paths differ, the events do not.
        assert_eq!(decide(l.clone(), "2026-11-28", ask(&paths(1)), B).0.name(), "already-done");
        // Two left today: the first two paths go, the third is reported stale.
        let other: Vec<String> = (10..13).map(|i| format!("/image/{i}.jpg")).collect();
        let (d, l) = decide(l, "2026-11-28", Ask { salt: "change-2", ..ask(&other) }, B);
        let Decision::Spend { batch, stale } = &d else { panic!("{d:?}") };
        assert_eq!((&batch.paths[..], &stale[..]), (&other[..2], &other[2..]));
        let (d, _) = decide(l.clone(), "2026-11-28", Ask { salt: "change-3", ..ask(&paths(1)) }, B);
        assert_eq!(d, Decision::Exhausted { stale: paths(1) });
        // A new day resets the count.
        let (d, l) = decide(l, "2026-11-29", ask(&paths(1)), B);
        assert_eq!((d.name(), l.unwrap().paths), ("spend", 1));
    }

    #[test]
    fn purges_have_their_own_allowance() {
        let all = vec!["/image/*".to_string()];
        let first = Ask { paths: &all, salt: "purge-1", purge: true };
        let (d, l) = decide(None, "2026-11-28", first, B);
        assert_eq!((d.name(), l.as_ref().map(|l| (l.paths, l.purges))), ("spend", Some((1, 1))));
        assert_eq!(decide(l.clone(), "2026-11-28", first, B).0.name(), "already-done");
        // A second upload of `.purge` is another purge, over today's one.
        let (d, _) = decide(l, "2026-11-28", Ask { salt: "purge-2", ..first }, B);
        assert_eq!(d.name(), "exhausted");
    }

    #[test]
    fn one_request_carries_at_most_cloudfronts_3000_paths() {
        let big = Budget { paths_per_day: 10_000, purges_per_day: 1 };
        let (d, _) = decide(None, "2026-11-28", ask(&paths(3_001)), big);
        let Decision::Spend { batch, stale } = d else { panic!() };
        assert_eq!((batch.paths.len(), stale.len()), (3_000, 1));
    }

    #[test]
    fn an_old_ledger_still_reads() {
        let l: Ledger = serde_json::from_str(r#"{"day":"2026-11-28","count":4,"done":["x"]}"#).unwrap();
        assert_eq!((l.paths, l.done.len()), (0, 1));
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert!(t.starts_with("20"));
    }
}
