//! A local directory as a store: `{root}/{key}`. Keys are validated (`spec::Key`), so a
//! key can never name a path outside the root.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use super::{guard, Meta, Object, Store, StoreError, Stored, VariantMeta};
use crate::spec::Key;
use crate::Config;

#[derive(Clone)]
pub struct DirStore {
    root: PathBuf,
    cfg: Arc<Config>,
}

impl DirStore {
    pub fn new(root: impl Into<PathBuf>, cfg: Arc<Config>) -> Self {
        DirStore { root: root.into(), cfg }
    }

    fn path(&self, key: &Key) -> PathBuf {
        self.root.join(key.as_str())
    }
}

fn io_err(key: &Key, e: std::io::Error) -> StoreError {
    match e.kind() {
        // A directory where a file is expected, or a file used as a directory.
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory | std::io::ErrorKind::IsADirectory => {
            StoreError::NotFound(key.to_string())
        }
        _ => StoreError::Other(format!("{key}: {e}")),
    }
}

/// A file's entity tag: modification time and length, as nginx and Apache make them.
fn file_etag(meta: &std::fs::Metadata) -> Option<String> {
    let m = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("\"{:x}-{:x}\"", m.as_nanos(), meta.len()))
}

impl Store for DirStore {
    async fn get(&self, key: &Key, max_bytes: u64) -> Result<Object, StoreError> {
        let path = self.path(key);
        let meta = tokio::fs::metadata(&path).await.map_err(|e| io_err(key, e))?;
        if !meta.is_file() {
            return Err(StoreError::NotFound(key.to_string()));
        }
        if meta.len() > max_bytes {
            return Err(StoreError::TooLarge { key: key.to_string(), size: meta.len(), limit: max_bytes });
        }
        let bytes = tokio::fs::read(&path).await.map_err(|e| io_err(key, e))?;
        Ok(Object {
            bytes: Bytes::from(bytes),
            content_type: None,
            etag: file_etag(&meta),
            last_modified: meta.modified().ok(),
            source_etag: None,
            derived_from: None,
        })
    }

    async fn head(&self, key: &Key) -> Result<Option<Meta>, StoreError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) if m.is_file() => Ok(Some(Meta {
                etag: file_etag(&m),
                last_modified: m.modified().ok(),
                version_id: None,
                source_etag: None,
            })),
            Ok(_) => Ok(None),
            Err(e) => match io_err(key, e) {
                StoreError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The directory keeps no metadata: content type, cache-control, the source ETag and
    /// `derived_from` are not recorded (`serve` derives the first two; the source ETag
    /// matters to the janitor, which works on S3, and without it no variant is ever a
    /// source for another: `edge::derive` cannot tell a current one from a stale one).
    async fn put_variant(&self, key: &Key, body: Bytes, _meta: &VariantMeta<'_>) -> Result<Stored, StoreError> {
        guard(key, &self.cfg)?;
        let path = self.path(key);
        let dir = path.parent().ok_or_else(|| StoreError::Other(format!("{key}: no parent")))?;
        tokio::fs::create_dir_all(dir).await.map_err(|e| io_err(key, e))?;
        // Write beside, then rename: readers see the old state or the whole new object.
        let tmp = dir.join(format!(".{}.tmp-{}", key.file(), std::process::id()));
        tokio::fs::write(&tmp, &body).await.map_err(|e| io_err(key, e))?;
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_err(key, e));
        }
        let meta = tokio::fs::metadata(&path).await.map_err(|e| io_err(key, e))?;
        Ok(Stored { etag: file_etag(&meta) })
    }

    async fn delete_variants(&self, keys: &[Key]) -> Result<Vec<Key>, StoreError> {
        for k in keys {
            guard(k, &self.cfg)?;
        }
        let mut deleted = Vec::new();
        for k in keys {
            match tokio::fs::remove_file(self.path(k)).await {
                Ok(()) => deleted.push(k.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(k, e)),
            }
        }
        Ok(deleted)
    }
}
