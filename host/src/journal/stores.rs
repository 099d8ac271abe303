//! Fragment stores: where a journal's closed fragments are persisted (Gazette's
//! `broker/fragment/store_*.go`), through the `object_store` crate.
//!
//! A JournalSpec names its stores in `fragment.stores`; the first one receives new
//! fragments, all of them are listed. Two kinds are supported:
//!
//! - `file:///an/absolute/dir/` — a directory (Gazette's `file://` store);
//! - `s3://bucket/prefix/` — S3 or any S3-compatible server. Query parameters as
//!   Gazette's: `endpoint=http://host:port` (a local server; `http` is allowed then),
//!   `region=…` (default `us-east-1`); credentials come from the usual `AWS_*`
//!   environment variables.
//!
//! A fragment `[begin, end)` of journal `a/b` is stored as Gazette names it:
//! `<prefix>a/b/<begin:016x>-<end:016x>-<sha1 hex>.raw` (uncompressed), so listing a
//! journal's prefix is its remote fragment index, with each object's modification time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::error::JournalError;

/// A fragment held by a fragment store.
#[derive(Clone, Debug)]
pub struct RemoteFragment {
    /// First offset.
    pub begin: i64,
    /// Offset past the last byte.
    pub end: i64,
    /// SHA-1 of its bytes.
    pub sum: [u8; 20],
    /// The store holding it (its URL is the fragment's `backing_store`).
    pub store: Arc<FragmentStore>,
    /// When it was stored (Unix seconds).
    pub mod_time: i64,
    /// Its object.
    pub(super) path: ObjectPath,
}

/// One fragment store.
#[derive(Debug)]
pub struct FragmentStore {
    /// The URL the spec names.
    pub url: String,
    store: Arc<dyn ObjectStore>,
    /// The store's prefix (possibly empty).
    prefix: String,
}

impl FragmentStore {
    /// Opens the store at `url`.
    ///
    /// # Errors
    /// `Invalid` naming the URL: an unknown scheme, a relative `file://` path, an `s3://`
    /// URL without a bucket, a directory that cannot be created.
    pub fn open(url: &str) -> Result<Self, JournalError> {
        let bad = |why: &str| JournalError::invalid(format!("fragment store {url:?}: {why}"));
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let params: HashMap<&str, &str> = query.split('&').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('=')).collect();
        if let Some(dir) = base.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(bad("a file:// store needs an absolute path (file:///dir/)"));
            }
            std::fs::create_dir_all(dir).map_err(|e| bad(&format!("creating {dir}: {e}")))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| bad(&e.to_string()))?;
            return Ok(FragmentStore { url: url.to_string(), store: Arc::new(fs), prefix: String::new() });
        }
        if let Some(rest) = base.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("an s3:// store needs a bucket (s3://bucket/prefix/)"));
            }
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_region(params.get("region").copied().unwrap_or("us-east-1"));
            if let Some(endpoint) = params.get("endpoint") {
                b = b.with_endpoint(*endpoint).with_allow_http(endpoint.starts_with("http://"));
            }
            let s3 = b.build().map_err(|e| bad(&e.to_string()))?;
            return Ok(FragmentStore { url: url.to_string(), store: Arc::new(s3), prefix: prefix.to_string() });
        }
        Err(bad("expected file:///dir/ or s3://bucket/prefix/"))
    }

    /// The object of a fragment of `journal`.
    fn path_of(&self, journal: &str, begin: i64, end: i64, sum: &[u8; 20]) -> ObjectPath {
        ObjectPath::from(format!("{}{journal}/{}", self.prefix, content_name(begin, end, sum)))
    }

    fn journal_prefix(&self, journal: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{journal}/", self.prefix))
    }

    /// The fragments of `journal` in this store, by begin offset. Objects whose names
    /// are not fragment names are skipped.
    ///
    /// # Errors
    /// `Unavailable` naming the store when it cannot be listed.
    pub async fn list(self: &Arc<Self>, journal: &str) -> Result<Vec<RemoteFragment>, JournalError> {
        let prefix = self.journal_prefix(journal);
        let mut objects = self.store.list(Some(&prefix));
        let mut out = Vec::new();
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(|e| self.unavailable("listing", journal, e))?;
            let name = meta.location.filename().unwrap_or_default();
            // Only the journal's own fragments, not those of journals below it.
            if meta.location.as_ref().rsplit_once('/').map(|(dir, _)| dir) != Some(prefix.as_ref().trim_end_matches('/')) {
                continue;
            }
            let Some((begin, end, sum)) = parse_content_name(name) else { continue };
            out.push(RemoteFragment { begin, end, sum, store: self.clone(), mod_time: meta.last_modified.timestamp(), path: meta.location });
        }
        out.sort_by_key(|f| (f.begin, f.end));
        Ok(out)
    }

    /// Stores fragment `[begin, end)` of `journal` with its bytes.
    ///
    /// # Errors
    /// `Unavailable` naming the store.
    pub async fn put(self: &Arc<Self>, journal: &str, begin: i64, bytes: Bytes, sum: [u8; 20]) -> Result<RemoteFragment, JournalError> {
        let end = begin + bytes.len() as i64;
        let path = self.path_of(journal, begin, end, &sum);
        self.store.put(&path, PutPayload::from(bytes)).await.map_err(|e| self.unavailable("writing to", journal, e))?;
        let mod_time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Ok(RemoteFragment { begin, end, sum, store: self.clone(), mod_time, path })
    }

    /// Bytes `[offset, offset + len)` of a fragment of this store.
    ///
    /// # Errors
    /// `Unavailable` naming the store and the object.
    pub async fn read(&self, f: &RemoteFragment, offset: i64, len: usize) -> Result<Bytes, JournalError> {
        let from = (offset - f.begin) as u64;
        self.store
            .get_range(&f.path, from..from + len as u64)
            .await
            .map_err(|e| JournalError::Unavailable(format!("fragment store {:?}: reading {}: {e}", self.url, f.path)))
    }

    /// Deletes a fragment of this store.
    ///
    /// # Errors
    /// `Unavailable` naming the store and the object.
    pub async fn delete(&self, f: &RemoteFragment) -> Result<(), JournalError> {
        self.store.delete(&f.path).await.map_err(|e| JournalError::Unavailable(format!("fragment store {:?}: deleting {}: {e}", self.url, f.path)))
    }

    /// Whether the store answers: lists its prefix (Gazette's `FragmentStoreHealth`).
    ///
    /// # Errors
    /// `Unavailable` naming the store and what it answered.
    pub async fn check(&self) -> Result<(), JournalError> {
        let prefix = ObjectPath::from(self.prefix.as_str());
        match self.store.list(Some(&prefix)).next().await {
            Some(Err(e)) => Err(JournalError::Unavailable(format!("fragment store {:?}: listing it: {e}", self.url))),
            _ => Ok(()),
        }
    }

    fn unavailable(&self, what: &str, journal: &str, e: object_store::Error) -> JournalError {
        JournalError::Unavailable(format!("fragment store {:?}: {what} journal {journal:?}: {e}", self.url))
    }
}

/// Gazette's `ContentName` of an uncompressed fragment.
pub fn content_name(begin: i64, end: i64, sum: &[u8; 20]) -> String {
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    format!("{begin:016x}-{end:016x}-{hex}.raw")
}

/// The begin, end and SHA-1 of a fragment's content name.
pub fn parse_content_name(name: &str) -> Option<(i64, i64, [u8; 20])> {
    let stem = name.strip_suffix(".raw")?;
    let mut parts = stem.split('-');
    let (b, e, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || b.len() != 16 || e.len() != 16 || s.len() != 40 {
        return None;
    }
    let begin = i64::from_str_radix(b, 16).ok()?;
    let end = i64::from_str_radix(e, 16).ok()?;
    let mut sum = [0u8; 20];
    for (i, byte) in sum.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    (begin <= end).then_some((begin, end, sum))
}

/// Open stores, by URL, shared by every journal of a storage.
#[derive(Default)]
pub struct Stores(Mutex<HashMap<String, Arc<FragmentStore>>>);

impl Stores {
    /// The store at `url`, opened once.
    ///
    /// # Errors
    /// As [`FragmentStore::open`].
    pub fn get(&self, url: &str) -> Result<Arc<FragmentStore>, JournalError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.get(url) {
            return Ok(s.clone());
        }
        let store = Arc::new(FragmentStore::open(url)?);
        map.insert(url.to_string(), store.clone());
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_names_are_gazette_s_and_parse_back() {
        let sum: [u8; 20] = std::array::from_fn(|i| i as u8 * 13);
        let name = content_name(0x1000, 0x2345, &sum);
        assert_eq!(name, "0000000000001000-0000000000002345-000d1a2734414e5b6875828f9ca9b6c3d0ddeaf7.raw");
        assert_eq!(parse_content_name(&name), Some((0x1000, 0x2345, sum)));
        for bad in ["x.raw", "0000000000001000-0000000000002345.raw", &name.replace(".raw", ".gz"), &name.replace("-0000000000002345", "-0000000000000001")] {
            assert_eq!(parse_content_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn store_urls_are_checked_and_name_themselves_in_errors() {
        for (url, why) in [
            ("file://relative/dir/", "absolute path"),
            ("s3:///prefix/", "needs a bucket"),
            ("gs://bucket/", "expected file:///dir/ or s3://"),
        ] {
            let e = FragmentStore::open(url).unwrap_err().to_string();
            assert!(e.contains(url) && e.contains(why), "{url}: {e}");
        }
    }

    #[tokio::test]
    async fn a_file_store_holds_a_journal_s_fragments_apart_from_its_children_s() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FragmentStore::open(&format!("file://{}/", dir.path().display())).unwrap());
        let a = Bytes::from_static(b"hello, ");
        let b = Bytes::from_static(b"world\n");
        let sum = |x: &[u8]| -> [u8; 20] { sha1::Digest::finalize(<sha1::Sha1 as sha1::Digest>::new_with_prefix(x)).into() };
        store.put("a/j", 7, b.clone(), sum(&b)).await.unwrap();
        store.put("a/j", 0, a.clone(), sum(&a)).await.unwrap();
        store.put("a/j/child", 0, b.clone(), sum(&b)).await.unwrap();
        let listed = store.list("a/j").await.unwrap();
        assert_eq!(listed.iter().map(|f| (f.begin, f.end)).collect::<Vec<_>>(), vec![(0, 7), (7, 13)]);
        assert_eq!(listed[1].sum, sum(&b));
        assert_eq!(store.read(&listed[1], 9, 3).await.unwrap(), Bytes::from_static(b"rld"));
        assert!(dir.path().join("a/j").join(content_name(0, 7, &sum(&a))).exists(), "Gazette's layout on disk");
        store.delete(&listed[0]).await.unwrap();
        assert_eq!(store.list("a/j").await.unwrap().len(), 1);
    }
}
