//! Paths owed to the CDN. The janitor deletes stale variants before it invalidates them
//! (the other order would let an edge fetch the old variant again between the two), so a
//! failed or cut-off run would leave paths that a redelivery can no longer find: their
//! variants are gone. Before deleting, it writes the paths it is about to owe to one small
//! object per original, outside the prefix; the next run for that original pays them too,
//! and a run that paid (or was refused by the budget, which it reports) clears it.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::Key;
use crate::store::StoreError;

/// The record of one original's owed paths.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owed {
    pub original: String,
    pub paths: Vec<String>,
}

/// Where an original's owed paths are kept: beside the ledger, under `owed/`, named by a
/// hash of the key (an original's key may be up to S3's 1,024 bytes itself).
pub fn owed_key(ledger_key: &str, original: &Key) -> String {
    let dir = ledger_key.rsplit_once('/').map_or("_edge-resize", |(d, _)| d);
    let h = hex::encode(Sha256::digest(original.as_str().as_bytes()));
    format!("{dir}/owed/{}.json", &h[..40])
}

/// The paths owed for an original (none when there is no record).
pub async fn read(client: &Client, bucket: &str, key: &str) -> Result<Vec<String>, StoreError> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => {
            let body = o.body.collect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?.into_bytes();
            Ok(serde_json::from_slice::<Owed>(&body).map(|o| o.paths).unwrap_or_default())
        }
        Err(e) => match crate::store::s3::classify(key, e, true) {
            StoreError::NotFound(_) => Ok(Vec::new()),
            other => Err(other),
        },
    }
}

pub async fn write(client: &Client, bucket: &str, key: &str, owed: &Owed) -> Result<(), StoreError> {
    let body = serde_json::to_vec(owed).map_err(|e| StoreError::Other(e.to_string()))?;
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| crate::store::s3::classify(key, e, false))?;
    Ok(())
}

/// Forget an original's owed paths (deleting a missing record is no error in S3).
pub async fn clear(client: &Client, bucket: &str, key: &str) -> Result<(), StoreError> {
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| crate::store::s3::classify(key, e, false))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owed_records_live_beside_the_ledger_outside_the_prefix() {
        let k = owed_key("_edge-resize/invalidation-ledger.json", &Key::new("image/a.jpg").unwrap());
        assert!(k.starts_with("_edge-resize/owed/") && k.ends_with(".json"), "{k}");
        assert_eq!(k.len(), "_edge-resize/owed/".len() + 40 + 5);
        assert_ne!(k, owed_key("_edge-resize/invalidation-ledger.json", &Key::new("image/b.jpg").unwrap()));
        assert!(owed_key("ledger.json", &Key::new("image/a.jpg").unwrap()).starts_with("_edge-resize/owed/"));
    }
}
