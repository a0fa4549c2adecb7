//! The invalidation budget: a small JSON object in S3 counting today's CreateInvalidation
//! requests and their CallerReferences, updated with conditional writes (If-Match /
//! If-None-Match) so two janitors running at once cannot exceed it or repeat a batch.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub count: u32,
    /// CallerReferences done today.
    pub done: Vec<String>,
}

/// What the ledger allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Counted: go ahead.
    Spend,
    /// This batch was already invalidated today (a redelivery).
    AlreadyDone,
    /// Today's budget is used up.
    Exhausted,
}

/// Pure: the ledger after spending on `reference`, or why not.
pub fn decide(current: Option<Ledger>, today: &str, reference: &str, per_day: u32) -> (Decision, Option<Ledger>) {
    let mut l = current.filter(|l| l.day == today).unwrap_or_else(|| Ledger { day: today.into(), ..Ledger::default() });
    if l.done.iter().any(|d| d == reference) {
        return (Decision::AlreadyDone, None);
    }
    if l.count >= per_day {
        return (Decision::Exhausted, None);
    }
    l.count += 1;
    l.done.push(reference.into());
    (Decision::Spend, Some(l))
}

/// Today's UTC date from the system clock.
pub fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date crate for one line.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Spend one invalidation of `reference` from the ledger at `bucket`/`key`, retrying lost
/// races a few times.
pub async fn spend(
    client: &Client,
    bucket: &str,
    key: &str,
    reference: &str,
    per_day: u32,
) -> Result<Decision, StoreError> {
    for _ in 0..5 {
        let (current, etag) = match client.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => {
                let etag = o.e_tag().map(str::to_string);
                let body = o.body.collect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?.into_bytes();
                (serde_json::from_slice::<Ledger>(&body).ok(), etag)
            }
            Err(e) => match crate::store::s3::classify(key, e, true) {
                StoreError::NotFound(_) => (None, None),
                other => return Err(other),
            },
        };
        let (decision, next) = decide(current, &today(), reference, per_day);
        let Some(next) = next else { return Ok(decision) };
        let body = serde_json::to_vec(&next).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut put =
            client.put_object().bucket(bucket).key(key).content_type("application/json").body(ByteStream::from(body));
        put = match etag {
            Some(t) => put.if_match(t),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => return Ok(Decision::Spend),
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

/// Give back a reservation whose invalidation failed, so the redelivery can retry it.
/// Best effort: if this fails, the batch is at worst skipped as already done.
pub async fn release(client: &Client, bucket: &str, key: &str, reference: &str) {
    for _ in 0..3 {
        let Ok(o) = client.get_object().bucket(bucket).key(key).send().await else { return };
        let etag = o.e_tag().map(str::to_string);
        let Ok(body) = o.body.collect().await else { return };
        let Ok(mut l) = serde_json::from_slice::<Ledger>(&body.into_bytes()) else { return };
        let before = l.done.len();
        l.done.retain(|d| d != reference);
        if l.done.len() == before {
            return;
        }
        l.count = l.count.saturating_sub(1);
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

    #[test]
    fn budget_and_idempotency() {
        let (d, l) = decide(None, "2026-11-28", "a", 2);
        assert_eq!(d, Decision::Spend);
        let (d, _) = decide(l.clone(), "2026-11-28", "a", 2);
        assert_eq!(d, Decision::AlreadyDone);
        let (_, l) = decide(l, "2026-11-28", "b", 2);
        let (d, _) = decide(l.clone(), "2026-11-28", "c", 2);
        assert_eq!(d, Decision::Exhausted);
        // A new day resets the count.
        let (d, l) = decide(l, "2026-11-29", "c", 2);
        assert_eq!((d, l.unwrap().count), (Decision::Spend, 1));
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert!(t.starts_with("20"));
    }
}
