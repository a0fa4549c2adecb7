//! S3 through aws-sdk-s3. `AWS_ENDPOINT_URL` (read by aws-config) points it at any
//! S3-compatible server; path-style addressing is then used, as local servers need.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use bytes::Bytes;

use super::{guard, Meta, Object, Store, StoreError, Stored, VariantMeta, DERIVED_FROM, SOURCE_ETAG};
use crate::spec::Key;
use crate::Config;

/// DeleteObjects takes at most 1,000 keys per call.
const DELETE_BATCH: usize = 1000;

#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    cfg: Arc<Config>,
}

/// Build an S3 client from the environment (credentials, region, `AWS_ENDPOINT_URL`),
/// with timeouts that fit inside an origin trigger's 30 s and the SDK's standard retries
/// (4 attempts, jittered exponential backoff, retrying 5xx, throttling and dropped connections).
pub async fn client(region: Option<String>) -> Client {
    client_at(region, None).await
}

/// As [`client`], at an explicit endpoint (tests point it at fault-injecting servers).
pub async fn client_at(region: Option<String>, endpoint: Option<String>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(8))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .retry_config(
            // Short backoffs: an edge miss has seconds, not minutes; the handler's deadline,
            // not the attempt count, is what finally stops the retries.
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(2)),
        );
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r));
    }
    let local = endpoint.is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    let sdk = loader.load().await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(local).build();
    Client::from_conf(conf)
}

impl S3Store {
    pub fn new(client: Client, bucket: impl Into<String>, cfg: Arc<Config>) -> Self {
        S3Store { client, bucket: bucket.into(), cfg }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Fold an SDK error into a `StoreError`. S3 answers 403 rather than 404 for a missing
/// key when the caller may not list the bucket, so a 403 on a read is "not found".
pub(crate) fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    key: &str,
    e: SdkError<E, HttpResponse>,
    read: bool,
) -> StoreError {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or("").to_string();
    match (&e, status) {
        (SdkError::ServiceError(_), Some(404)) => StoreError::NotFound(key.into()),
        (SdkError::ServiceError(_), Some(403)) if read => StoreError::NotFound(key.into()),
        (SdkError::ServiceError(_), Some(412)) => StoreError::PreconditionFailed(key.into()),
        (SdkError::ServiceError(_), Some(s)) if s >= 500 || code == "SlowDown" => {
            StoreError::Unavailable(format!("{key}: {s} {code}"))
        }
        (SdkError::ServiceError(_), Some(s)) => StoreError::Other(format!("{key}: {s} {code}")),
        (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_), _) => {
            StoreError::Unavailable(format!("{key}: {}", aws_smithy_types::error::display::DisplayErrorContext(&e)))
        }
        _ => StoreError::Other(format!("{key}: {}", aws_smithy_types::error::display::DisplayErrorContext(&e))),
    }
}

/// Whole GETs tried when the connection drops while the body streams (see `get`).
const BODY_ATTEMPTS: u32 = 3;

/// How one GET ended: an object, an error, or a body cut off mid-stream.
enum Read {
    Done(Result<Object, StoreError>),
    Cut(String),
}

impl S3Store {
    async fn get_once(&self, key: &Key, max_bytes: u64) -> Read {
        let out = match self.client.get_object().bucket(&self.bucket).key(key.as_str()).send().await {
            Ok(out) => out,
            Err(e) => return Read::Done(Err(classify(key.as_str(), e, true))),
        };
        let len = out.content_length().unwrap_or(0).max(0) as u64;
        if len > max_bytes {
            return Read::Done(Err(StoreError::TooLarge { key: key.to_string(), size: len, limit: max_bytes }));
        }
        let content_type = out.content_type().map(str::to_string);
        let etag = out.e_tag().map(str::to_string);
        let last_modified = out.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok());
        let user = |name: &str| out.metadata().and_then(|m| m.get(name)).cloned();
        let (source_etag, derived_from) = (user(SOURCE_ETAG), user(DERIVED_FROM));
        let body = match out.body.collect().await {
            Ok(b) => b.into_bytes(),
            Err(e) => return Read::Cut(format!("{key}: reading body: {e}")),
        };
        if body.len() as u64 > max_bytes || (len > 0 && body.len() as u64 != len) {
            return Read::Cut(format!("{key}: body is {} bytes, expected {len}", body.len()));
        }
        Read::Done(Ok(Object { bytes: body, content_type, etag, last_modified, source_etag, derived_from }))
    }
}

impl Store for S3Store {
    /// The SDK retries a GET until its response headers arrive; a connection lost while the
    /// body streams surfaces only here, so the whole GET is tried again (the caller's
    /// deadline bounds the total).
    async fn get(&self, key: &Key, max_bytes: u64) -> Result<Object, StoreError> {
        let mut attempt = 1;
        loop {
            match self.get_once(key, max_bytes).await {
                Read::Done(r) => return r,
                Read::Cut(why) if attempt >= BODY_ATTEMPTS => return Err(StoreError::Unavailable(why)),
                Read::Cut(why) => {
                    tracing::warn!(attempt, error = %why, "GET body cut off; retrying");
                    attempt += 1;
                }
            }
        }
    }

    async fn put_variant(&self, key: &Key, body: Bytes, meta: &VariantMeta<'_>) -> Result<Stored, StoreError> {
        guard(key, &self.cfg)?;
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(meta.content_type)
            .cache_control(meta.cache_control)
            .body(ByteStream::from(body));
        if let Some(e) = meta.source_etag {
            put = put.metadata(SOURCE_ETAG, e);
        }
        if let Some(k) = meta.derived_from {
            put = put.metadata(DERIVED_FROM, k);
        }
        let out = put.send().await.map_err(|e| classify(key.as_str(), e, false))?;
        Ok(Stored { etag: out.e_tag().map(str::to_string) })
    }

    /// HeadObject. 404 is `None`; 403 is `Forbidden`, since without `s3:ListBucket` S3 says
    /// 403 for a missing key too and the caller must decide what that means.
    async fn head(&self, key: &Key) -> Result<Option<Meta>, StoreError> {
        match self.client.head_object().bucket(&self.bucket).key(key.as_str()).send().await {
            Ok(o) => Ok(Some(Meta {
                etag: o.e_tag().map(str::to_string),
                last_modified: o.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok()),
                version_id: o.version_id().map(str::to_string),
                source_etag: o.metadata().and_then(|m| m.get(SOURCE_ETAG)).cloned(),
            })),
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => Ok(None),
                Some(403) => Err(StoreError::Forbidden(key.to_string())),
                _ => Err(classify(key.as_str(), e, false)),
            },
        }
    }

    async fn delete_variants(&self, keys: &[Key]) -> Result<Vec<Key>, StoreError> {
        for k in keys {
            guard(k, &self.cfg)?;
        }
        let mut deleted = Vec::new();
        for chunk in keys.chunks(DELETE_BATCH) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k.as_str()).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| classify("DeleteObjects", e, false))?;
            if let Some(err) = out.errors().first() {
                return Err(StoreError::Other(format!("DeleteObjects: {:?} {:?}", err.key(), err.code())));
            }
            deleted.extend(chunk.iter().cloned());
        }
        Ok(deleted)
    }
}
