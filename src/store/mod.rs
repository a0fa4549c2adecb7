//! Where originals are read and variants written: S3 (`s3`) or a local directory (`dir`).
//!
//! Originals are read-only to edge-resize: both stores refuse to write or delete a key
//! that the variant-URI function does not recognise as a variant (`guard`).

mod dir;
#[cfg(feature = "aws")]
pub(crate) mod s3;

use std::future::Future;

use bytes::Bytes;

pub use dir::DirStore;
#[cfg(feature = "aws")]
pub use s3::{client as s3_client, client_at as s3_client_at, S3Store};

use crate::spec::{parse_variant_key, Key};
use crate::Config;

/// An object read from a store.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Bytes,
    pub content_type: Option<String>,
    pub etag: Option<String>,
}

/// Why a store operation failed. `is_not_found` is what the handlers branch on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("no such object: {0}")]
    NotFound(String),
    #[error("refusing to write or delete '{0}': not a variant key")]
    NotAVariant(String),
    #[error("object '{key}' is {size} bytes, over the limit of {limit}")]
    TooLarge { key: String, size: u64, limit: u64 },
    #[error("a conditional write lost the race: {0}")]
    PreconditionFailed(String),
    #[error("store unavailable (after retries): {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound(_))
    }
}

/// Object storage as the handlers and the janitor need it.
pub trait Store: Send + Sync {
    /// Read an object, refusing (before reading the body) anything over `max_bytes`.
    fn get(&self, key: &Key, max_bytes: u64) -> impl Future<Output = Result<Object, StoreError>> + Send;
    /// Write a variant with its content type and cache-control. Never a partial object:
    /// S3 PUTs are atomic, the directory store writes a temporary file and renames it.
    fn put_variant(
        &self,
        key: &Key,
        body: Bytes,
        content_type: &str,
        cache_control: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Delete variants (missing ones are not an error); returns the keys deleted.
    fn delete_variants(&self, keys: &[Key]) -> impl Future<Output = Result<Vec<Key>, StoreError>> + Send;
}

/// The one check every write and delete goes through.
pub fn guard(key: &Key, cfg: &Config) -> Result<(), StoreError> {
    match parse_variant_key(key, cfg) {
        Some(_) => Ok(()),
        None => Err(StoreError::NotAVariant(key.to_string())),
    }
}

/// A directory or an S3 bucket, chosen at run time (`serve`).
#[derive(Clone)]
pub enum AnyStore {
    Dir(DirStore),
    #[cfg(feature = "aws")]
    S3(S3Store),
}

impl Store for AnyStore {
    async fn get(&self, key: &Key, max_bytes: u64) -> Result<Object, StoreError> {
        match self {
            AnyStore::Dir(s) => s.get(key, max_bytes).await,
            #[cfg(feature = "aws")]
            AnyStore::S3(s) => s.get(key, max_bytes).await,
        }
    }
    async fn put_variant(&self, key: &Key, body: Bytes, ct: &str, cc: &str) -> Result<(), StoreError> {
        match self {
            AnyStore::Dir(s) => s.put_variant(key, body, ct, cc).await,
            #[cfg(feature = "aws")]
            AnyStore::S3(s) => s.put_variant(key, body, ct, cc).await,
        }
    }
    async fn delete_variants(&self, keys: &[Key]) -> Result<Vec<Key>, StoreError> {
        match self {
            AnyStore::Dir(s) => s.delete_variants(keys).await,
            #[cfg(feature = "aws")]
            AnyStore::S3(s) => s.delete_variants(keys).await,
        }
    }
}
