//! Where originals are read and variants written: S3 (`s3`) or a local directory (`dir`).
//!
//! Originals are read-only to edge-resize: both stores refuse to write or delete a key
//! that the variant-URI function does not recognise as a variant (`guard`).

mod dir;
#[cfg(feature = "aws")]
pub(crate) mod s3;

use std::future::Future;
use std::time::SystemTime;

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
    /// The entity tag, quoted as S3 sends it (`"9b2cf535f27731c974343645a3985328"`). A
    /// store must give one: the origin-response records it in the variant and compares it
    /// with the original's after storing (see `edge::origin`).
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
    /// For a variant: the ETag of the original it was made from ([`SOURCE_ETAG`]), as in
    /// `Meta::source_etag`. `None` for an original, and in the directory store.
    pub source_etag: Option<String>,
    /// For a variant made from another stored variant: that variant's key ([`DERIVED_FROM`]).
    /// `None` when it was made from the original (and in the directory store).
    pub derived_from: Option<String>,
}

/// What a HEAD says about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The entity tag, quoted, as in `Object::etag`.
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
    /// The current version's id in a versioned bucket (`None` when unversioned).
    pub version_id: Option<String>,
    /// For a variant: the ETag of the original it was made from, recorded in S3 user
    /// metadata (`x-amz-meta-source-etag`). `None` for variants stored before it was
    /// recorded, and in the directory store, which keeps no metadata.
    pub source_etag: Option<String>,
}

/// S3 user-metadata name (without `x-amz-meta-`) under which a variant records its
/// original's ETag.
pub const SOURCE_ETAG: &str = "source-etag";

/// S3 user-metadata name (without `x-amz-meta-`) under which a variant made from another
/// stored variant records that variant's key (`edge::derive`). A variant carrying it is
/// never a source again: each derivation adds a resampling and a lossy encode.
pub const DERIVED_FROM: &str = "derived-from";

/// How a variant is stored.
#[derive(Debug, Clone, Copy)]
pub struct VariantMeta<'a> {
    pub content_type: &'a str,
    pub cache_control: &'a str,
    /// ETag of the original the variant was made from (also when it was derived from a
    /// stored variant of that original: the janitor and the race check compare with it).
    pub source_etag: Option<&'a str>,
    /// The stored variant it was derived from, if it was not made from the original.
    pub derived_from: Option<&'a str>,
}

/// A stored variant, as the store acknowledged it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The stored object's ETag (PutObject's answer), quoted.
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
    /// A HEAD answered 403. Without `s3:ListBucket` S3 answers 403, not 404, for a missing
    /// key, so a HEAD cannot tell "missing" from "not allowed" and says neither.
    #[error("access denied (or missing, without s3:ListBucket): {0}")]
    Forbidden(String),
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
    /// Read an object, refusing (before reading the body) anything over `max_bytes`; with a
    /// variant's recorded metadata where the store keeps it.
    fn get(&self, key: &Key, max_bytes: u64) -> impl Future<Output = Result<Object, StoreError>> + Send;
    /// Write a variant with its content type, cache-control and source ETag. Never a partial
    /// object: S3 PUTs are atomic, the directory store writes a temporary file and renames it.
    fn put_variant(
        &self,
        key: &Key,
        body: Bytes,
        meta: &VariantMeta<'_>,
    ) -> impl Future<Output = Result<Stored, StoreError>> + Send;
    /// Delete variants (missing ones are not an error); returns the keys deleted.
    fn delete_variants(&self, keys: &[Key]) -> impl Future<Output = Result<Vec<Key>, StoreError>> + Send;
    /// An object's metadata without its body; `Ok(None)` when it does not exist.
    fn head(&self, key: &Key) -> impl Future<Output = Result<Option<Meta>, StoreError>> + Send;
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
    async fn put_variant(&self, key: &Key, body: Bytes, meta: &VariantMeta<'_>) -> Result<Stored, StoreError> {
        match self {
            AnyStore::Dir(s) => s.put_variant(key, body, meta).await,
            #[cfg(feature = "aws")]
            AnyStore::S3(s) => s.put_variant(key, body, meta).await,
        }
    }
    async fn delete_variants(&self, keys: &[Key]) -> Result<Vec<Key>, StoreError> {
        match self {
            AnyStore::Dir(s) => s.delete_variants(keys).await,
            #[cfg(feature = "aws")]
            AnyStore::S3(s) => s.delete_variants(keys).await,
        }
    }
    async fn head(&self, key: &Key) -> Result<Option<Meta>, StoreError> {
        match self {
            AnyStore::Dir(s) => s.head(key).await,
            #[cfg(feature = "aws")]
            AnyStore::S3(s) => s.head(key).await,
        }
    }
}
