//! `KeySpace`: a watched, decoded copy of everything under a root in etcd.
//!
//! Gazette's `keyspace/key_space.go`. [`KeySpace::load`] reads every key under
//! `<root>/` at one revision (in pages, at that revision); [`KeySpace::watch`] then
//! follows etcd from the next revision, applying each watch response whole (see
//! [`super::snapshot`]) and publishing the new [`Snapshot`] to subscribers, who can
//! also wait for a revision. Every process decides from this copy: the allocator, a
//! member looking for its assignments, a broker routing a journal.
//!
//! The watch never gives up. A broken stream (etcd restarting, a lost connection) is
//! re-opened from the revision after the last one seen, with backoff, logging each
//! failure and recording it in [`Health`]; a watch from a revision etcd has compacted
//! away reloads everything from scratch instead, since the events in between are gone.
//! Progress notifications keep the resume revision recent on a quiet root, as in
//! Gazette, so a reconnection rarely finds it compacted. Meanwhile readers keep the
//! last snapshot; only its revision stands still.
//!
//! Unlike Gazette the watched prefix is `<root>/`, not `<root>`, so `/a/b` does not
//! also see `/a/bc/...`; and responses are applied as they arrive, without Gazette's
//! 30 ms batching delay.

use std::fmt;
use std::sync::Arc;

use etcd_client::{Client, EventType, GetOptions, WatchOptions};
use tokio::sync::watch;

use super::backoff::backoff;
use super::snapshot::{DecodeFn, Event, RawKeyValue, Snapshot};
use super::Error;

/// Keys read per range request while loading: etcd's responses stay small however
/// large the root grows.
pub(crate) const LOAD_PAGE: i64 = 1000;

/// A watched copy of the keys under one root, decoded into `V`s. Cheap to clone: all
/// clones share one copy and one watch (started by [`KeySpace::watch`]).
pub struct KeySpace<V> {
    shared: Arc<Shared<V>>,
}

impl<V> Clone for KeySpace<V> {
    fn clone(&self) -> Self {
        KeySpace { shared: self.shared.clone() }
    }
}

struct Shared<V> {
    /// The root, a clean path such as `/streamsum/cluster`.
    root: String,
    /// `<root>/`: the watched prefix.
    prefix: String,
    /// The client loads and watches go through.
    client: Client,
    /// The caller's decoder.
    decode: Box<DecodeFn<V>>,
    /// The current snapshot; every change is a new revision.
    snapshot: watch::Sender<Arc<Snapshot<V>>>,
    /// How the watch is doing.
    health: watch::Sender<Health>,
}

/// How a keyspace's watch is doing, for logs, status pages and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// A watch is established (false from a failure until the next one is).
    pub watching: bool,
    /// Failures since the watch was last established.
    pub failures: u32,
    /// Full loads done: the first, plus one per reload after a compaction.
    pub loads: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// Why a watch stream ended.
enum Broken {
    /// It started at a revision etcd has compacted: reload.
    Compacted(i64),
    /// It failed or ended: re-open it after a backoff.
    Failed(String),
}

impl<V: Send + Sync + 'static> KeySpace<V> {
    /// Loads every key under `<root>/` at etcd's current revision, decoding each value
    /// with `decode` (keys that fail are logged and skipped). Call [`KeySpace::watch`]
    /// next to keep it current.
    ///
    /// # Errors
    /// [`Error::BadRoot`] unless `root` is a clean absolute path (`/a/b`: no trailing
    /// `/`, no empty, `.` or `..` segments); [`Error::Etcd`] if etcd cannot be read.
    pub async fn load<D, E>(client: Client, root: &str, decode: D) -> Result<Self, Error>
    where
        D: Fn(&str, &[u8]) -> Result<V, E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        if !is_clean_root(root) {
            return Err(Error::BadRoot { root: root.to_string() });
        }
        let decode: Box<DecodeFn<V>> = Box::new(move |key, value| decode(key, value).map_err(|e| e.to_string()));
        let prefix = format!("{root}/");
        let snapshot = read_snapshot(&client, &prefix, LOAD_PAGE, &*decode).await?;
        tracing::debug!(%root, revision = snapshot.revision(), keys = snapshot.len(), "loaded keyspace");
        let shared = Shared {
            root: root.to_string(),
            prefix,
            client,
            decode,
            snapshot: watch::Sender::new(Arc::new(snapshot)),
            health: watch::Sender::new(Health { loads: 1, ..Health::default() }),
        };
        Ok(KeySpace { shared: Arc::new(shared) })
    }

    /// The root this keyspace mirrors.
    pub fn root(&self) -> &str {
        &self.shared.root
    }

    /// The etcd client it reads through (a cheap clone).
    pub fn client(&self) -> Client {
        self.shared.client.clone()
    }

    /// The current snapshot: every key at one revision.
    pub fn snapshot(&self) -> Arc<Snapshot<V>> {
        self.shared.snapshot.borrow().clone()
    }

    /// A receiver that sees every new snapshot (it may skip ones it was too slow
    /// for, never a revision's partial state).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot<V>>> {
        self.shared.snapshot.subscribe()
    }

    /// Waits until the keyspace has reached `revision` (a change at or after it has
    /// been applied, or a reload at or after it) and returns that snapshot. Wrap it
    /// in a timeout or a `select!` on shutdown: a root nobody writes to never moves.
    pub async fn wait_for_revision(&self, revision: i64) -> Arc<Snapshot<V>> {
        self.wait_until(|s| s.revision() >= revision).await
    }

    /// Waits until `ready` holds for the current snapshot and returns it.
    pub async fn wait_until(&self, mut ready: impl FnMut(&Snapshot<V>) -> bool) -> Arc<Snapshot<V>> {
        let mut rx = self.shared.snapshot.subscribe();
        let snapshot = rx.wait_for(|s| ready(s)).await.expect("the sender lives as long as the keyspace");
        snapshot.clone()
    }

    /// A receiver of the watch's [`Health`].
    pub fn health(&self) -> watch::Receiver<Health> {
        self.shared.health.subscribe()
    }

    /// Follows etcd until `shutdown` turns true (or its sender is dropped), reloading
    /// and retrying as the module doc says; spawn it and keep its handle.
    pub async fn watch(self, mut shutdown: watch::Receiver<bool>) {
        let mut resume = self.snapshot().revision() + 1;
        let (mut failures, mut reload) = (0u32, false);
        loop {
            if failures > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(backoff(failures)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
            if reload {
                match self.reload().await {
                    Ok(revision) => (resume, reload) = (revision + 1, false),
                    Err(error) => {
                        failures += 1;
                        self.failed(failures, error.to_string());
                        continue;
                    }
                }
            }
            let broken = tokio::select! {
                broken = self.follow(&mut resume, &mut failures) => broken,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match broken {
                Broken::Compacted(compacted) => {
                    tracing::info!(root = %self.shared.root, resume, compacted, "watch revision was compacted; reloading the keyspace");
                    reload = true;
                }
                Broken::Failed(error) => {
                    failures += 1;
                    self.failed(failures, error);
                }
            }
        }
    }

    /// One watch stream from `resume`, applying what it brings, until it breaks.
    async fn follow(&self, resume: &mut i64, failures: &mut u32) -> Broken {
        let options = WatchOptions::new().with_prefix().with_progress_notify().with_start_revision(*resume);
        let mut stream = match self.shared.client.watch_client().watch(self.shared.prefix.clone(), Some(options)).await {
            Ok(stream) => stream,
            Err(error) => return Broken::Failed(format!("opening the watch: {error}")),
        };
        loop {
            let response = match stream.message().await {
                Ok(Some(response)) => response,
                Ok(None) => return Broken::Failed("the watch stream ended".to_string()),
                Err(error) => return Broken::Failed(format!("watching: {error}")),
            };
            if response.canceled() {
                if response.compact_revision() > 0 {
                    return Broken::Compacted(response.compact_revision());
                }
                return Broken::Failed(format!("etcd canceled the watch: {}", response.cancel_reason()));
            }
            if response.created() {
                *failures = 0;
                self.shared.health.send_modify(|h| (h.watching, h.failures) = (true, 0));
            }
            let events: Vec<Event> = response.events().iter().filter_map(event).collect();
            match events.last() {
                Some(last) => *resume = last.mod_revision() + 1,
                None => {
                    // A progress notification (or the creation): nothing under the
                    // root changed through the header's revision.
                    if let Some(header) = response.header() {
                        *resume = (*resume).max(header.revision() + 1);
                    }
                    continue;
                }
            }
            let decode = &*self.shared.decode;
            self.shared.snapshot.send_if_modified(|current| match current.apply(&events, decode) {
                Some(next) => {
                    *current = Arc::new(next);
                    true
                }
                None => false,
            });
        }
    }

    /// Loads everything again; returns the revision loaded at.
    async fn reload(&self) -> Result<i64, Error> {
        let next = read_snapshot(&self.shared.client, &self.shared.prefix, LOAD_PAGE, &*self.shared.decode).await?;
        let revision = next.revision();
        self.shared.snapshot.send_if_modified(|current| {
            let newer = next.revision() > current.revision();
            if newer {
                *current = Arc::new(next);
            }
            newer
        });
        self.shared.health.send_modify(|h| h.loads += 1);
        tracing::info!(root = %self.shared.root, revision, "reloaded keyspace");
        Ok(revision)
    }

    fn failed(&self, failures: u32, error: String) {
        tracing::warn!(root = %self.shared.root, failures, %error, "keyspace watch failed (will retry)");
        self.shared.health.send_modify(|h| {
            h.watching = false;
            h.failures = failures;
            h.last_error = Some(error);
        });
    }
}

/// Reads every key under `prefix` at one revision, `page` keys per request.
pub(crate) async fn read_snapshot<V>(client: &Client, prefix: &str, page: i64, decode: &DecodeFn<V>) -> Result<Snapshot<V>, Error> {
    let mut kv = client.kv_client();
    let end = prefix_end(prefix.as_bytes());
    let (mut from, mut revision, mut raw) = (prefix.as_bytes().to_vec(), 0, Vec::new());
    loop {
        let mut options = GetOptions::new().with_range(end.clone()).with_limit(page);
        if revision != 0 {
            options = options.with_revision(revision);
        }
        let response = kv.get(from, Some(options)).await.map_err(Error::etcd(format!("reading {prefix}")))?;
        if revision == 0 {
            revision = response.header().map_or(0, |h| h.revision());
        }
        raw.extend(response.kvs().iter().filter_map(raw_key_value));
        match response.kvs().last() {
            Some(last) if response.more() => from = [last.key(), b"\0"].concat(),
            _ => break,
        }
    }
    Ok(Snapshot::load(revision, raw, decode))
}

/// The end of the range of keys starting with `prefix` (etcd's `GetPrefixRangeEnd`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    match prefix.iter().rposition(|&b| b < 0xff) {
        Some(i) => {
            let mut end = prefix[..=i].to_vec();
            end[i] += 1;
            end
        }
        None => vec![0], // Every key from `prefix` on.
    }
}

/// Whether `root` is a clean absolute path (Gazette requires `path.Clean(root) == root`).
fn is_clean_root(root: &str) -> bool {
    root.len() > 1 && root.starts_with('/') && root[1..].split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

fn raw_key_value(kv: &etcd_client::KeyValue) -> Option<RawKeyValue> {
    match kv.key_str() {
        Ok(key) => Some(RawKeyValue {
            key: key.to_string(),
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
            version: kv.version(),
            lease: kv.lease(),
        }),
        Err(_) => {
            tracing::error!(key = ?String::from_utf8_lossy(kv.key()), "skipping a key that is not UTF-8");
            None
        }
    }
}

fn event(e: &etcd_client::Event) -> Option<Event> {
    let kv = e.kv()?;
    match e.event_type() {
        EventType::Put => raw_key_value(kv).map(Event::Put),
        EventType::Delete => raw_key_value(kv).map(|kv| Event::Delete { key: kv.key, mod_revision: kv.mod_revision }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_must_be_a_clean_absolute_path() {
        let cases = [
            ("/streamsum/cluster", true),
            ("/a", true),
            ("/a.b/c-d", true),
            ("", false),
            ("/", false),
            ("a/b", false),
            ("/a/", false),
            ("/a//b", false),
            ("/a/./b", false),
            ("/a/../b", false),
        ];
        for (root, clean) in cases {
            assert_eq!(is_clean_root(root), clean, "{root:?}");
        }
    }

    #[test]
    fn a_prefix_range_ends_after_its_last_byte_that_can_grow() {
        assert_eq!(prefix_end(b"/r/"), b"/r0");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
    }
}
