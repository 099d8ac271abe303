//! Persisting closed fragments to the journal's fragment stores, listing them, and
//! retention (Gazette's `broker/fragment/persister.go`, `index.go`, `store_*.go`).
//!
//! A broker runs one [`Persister`] over its storage. Every second it visits the
//! journals whose spec names `fragment.stores`:
//!
//! - every `fragment.refresh_interval` it lists the stores: the remote fragment index
//!   that `ListFragments` reports and that reads fall back to below the local
//!   fragments (after retention pruned them, or after the broker lost its disk);
//! - at the journal's primary (every journal of an embedded broker), closed fragment
//!   files are uploaded to the first store, oldest first and only once every replica
//!   has their bytes (their end is within the readable head), so a store never holds
//!   an append no client was told is committed, and its fragments are contiguous;
//! - with `fragment.flush_interval`, the primary closes a fragment that has taken
//!   appends for that long, so its bytes reach the store even if it never fills;
//! - with `fragment.retention`, the primary deletes stored fragments older than it,
//!   oldest first, and prunes its local copies of them; a replica prunes its local
//!   fragments below the store's first remaining one.
//!
//! A journal whose store holds more than its local copy (every broker lost its disk)
//! restarts at the store's end before it takes an append: the pipeline checks this
//! before it syncs (`service/pipeline.rs`), an embedded broker when it starts
//! ([`catch_up`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sha1::{Digest, Sha1};
use tokio::sync::watch;

use super::error::JournalError;
use super::fragment::FragmentFile;
use super::labels::LabelSet;
use super::log::{lock, Journal};
use super::storage::Storage;
use super::stores::{FragmentStore, RemoteFragment};

/// How often the persister visits the journals.
pub const PERSIST_TICK: Duration = Duration::from_secs(1);

/// Which journals this broker uploads for (their primary).
pub type IsPrimary = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl Journal {
    /// The fragments persisted to the journal's stores, by begin offset.
    pub fn remote(&self) -> Vec<RemoteFragment> {
        lock(&self.remote).clone()
    }

    fn set_remote(&self, fragments: Vec<RemoteFragment>) {
        *lock(&self.remote) = fragments;
    }

    /// The stored fragment holding `offset`, if any.
    pub fn remote_at(&self, offset: i64) -> Option<RemoteFragment> {
        lock(&self.remote).iter().find(|f| f.begin <= offset && offset < f.end).cloned()
    }

    /// The first stored fragment beginning after `offset`.
    pub fn remote_after(&self, offset: i64) -> Option<i64> {
        lock(&self.remote).iter().map(|f| f.begin).filter(|b| *b > offset).min()
    }

    /// Closed local fragment files whose bytes every replica has, oldest first:
    /// `(begin, end, file)`.
    fn persistable(&self) -> Vec<(i64, i64, Arc<std::fs::File>)> {
        let st = lock(&self.state);
        let tail_closed = st.repl.as_ref().map_or(st.tail_closed, |r| r.spool_begin == st.write_end);
        let n = st.fragments.len();
        st.fragments
            .iter()
            .enumerate()
            .filter(|(i, f)| f.len > 0 && (*i + 1 < n || tail_closed) && f.end() <= st.committed)
            .map(|(_, f)| (f.begin, f.end(), f.file.clone()))
            .collect()
    }

    /// Closes the last fragment file if it has taken appends for `interval` (at once
    /// for zero).
    fn flush_if_older(&self, interval: Duration) {
        let mut st = lock(&self.state);
        let open_for = st.tail_since.map(|t| t.elapsed());
        let has_bytes = st.fragments.last().is_some_and(|f| f.len > 0 && f.end() == st.write_end);
        if has_bytes && (interval.is_zero() || open_for.is_some_and(|d| d >= interval)) {
            let end = st.write_end;
            match &mut st.repl {
                Some(repl) if repl.spool_begin < end => repl.roll(end),
                Some(_) => {}
                None => st.tail_closed = true,
            }
            st.tail_since = None;
        }
    }

    /// Starts the journal at `at`, the end of what its stores hold, dropping its local
    /// bytes (all of them below `at`, and in the stores).
    ///
    /// # Errors
    /// `Io` rewriting the index or removing fragment files.
    pub fn restart_at(self: &Arc<Self>, at: i64) -> Result<(), JournalError> {
        let mut st = lock(&self.state);
        if at <= st.write_end {
            return Ok(());
        }
        tracing::warn!(journal = %self.name(), local_end = st.write_end, store_end = at, "the fragment stores hold more than this broker: restarting the journal at their end");
        self.wipe_to(&mut st, at, &LabelSet::default())?;
        if let Some(repl) = &mut st.repl {
            repl.roll(at);
        }
        Ok(())
    }
}

/// Lists every store of `journal`'s spec and installs the merged index; returns its
/// end (0 if empty).
///
/// # Errors
/// A store that cannot be opened or listed.
pub async fn refresh(storage: &Storage, journal: &Journal) -> Result<i64, JournalError> {
    let mut all = Vec::new();
    for url in &journal.spec().spec.fragment.stores {
        let store = storage.stores().get(url)?;
        all.extend(store.list(journal.name()).await?);
    }
    all.sort_by_key(|f| (f.begin, f.end));
    let end = all.iter().map(|f| f.end).max().unwrap_or(0);
    journal.set_remote(all);
    Ok(end)
}

/// Before a journal takes appends: if its stores hold more than it does, restart it
/// at their end (every broker of the journal lost its disk).
///
/// # Errors
/// As [`refresh`] and [`Journal::restart_at`].
pub async fn catch_up(storage: &Storage, journal: &Arc<Journal>) -> Result<(), JournalError> {
    if journal.spec().spec.fragment.stores.is_empty() {
        return Ok(());
    }
    let end = refresh(storage, journal).await?;
    let j = journal.clone();
    tokio::task::spawn_blocking(move || j.restart_at(end))
        .await
        .map_err(|e| JournalError::Unavailable(format!("restarting journal {:?}: {e}", journal.name())))?
}

/// Closes and persists the last fragment of every journal with fragment stores this
/// broker is primary of (a broker that stops serving); failures are logged.
pub async fn persist_all(storage: &Storage, is_primary: &IsPrimary) {
    for journal in storage.all() {
        let spec = journal.spec().spec.fragment;
        if spec.stores.is_empty() || !is_primary(journal.name()) {
            continue;
        }
        journal.flush_if_older(Duration::ZERO);
        let stored = match storage.stores().get(&spec.stores[0]) {
            Ok(store) => upload(&journal, &store).await,
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            tracing::warn!(journal = %journal.name(), error = %e, "could not persist the last fragment before stopping");
        }
    }
}

/// The persister of one broker's storage.
pub struct Persister {
    storage: Arc<Storage>,
    is_primary: IsPrimary,
    /// When each journal's stores were last listed.
    listed: HashMap<String, Instant>,
}

impl Persister {
    /// Runs the persister of `storage` until `shutdown` turns true.
    pub fn spawn(storage: Arc<Storage>, is_primary: IsPrimary, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let mut p = Persister { storage, is_primary, listed: HashMap::new() };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PERSIST_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                if *shutdown.borrow() {
                    return;
                }
                tokio::select! {
                    _ = tick.tick() => p.visit_all().await,
                    changed = shutdown.changed() => if changed.is_err() { return },
                }
            }
        })
    }

    async fn visit_all(&mut self) {
        for journal in self.storage.all() {
            if journal.spec().spec.fragment.stores.is_empty() {
                continue;
            }
            if let Err(e) = self.visit(&journal).await {
                tracing::warn!(journal = %journal.name(), error = %e, "fragment store; retrying");
            }
        }
    }

    async fn visit(&mut self, journal: &Arc<Journal>) -> Result<(), JournalError> {
        let spec = journal.spec().spec.fragment;
        let due = self.listed.get(journal.name()).is_none_or(|t| t.elapsed() >= spec.refresh_interval);
        if due {
            refresh(&self.storage, journal).await?;
            self.listed.insert(journal.name().to_string(), Instant::now());
        }
        let primary = (self.is_primary)(journal.name());
        if primary {
            if !spec.flush_interval.is_zero() {
                journal.flush_if_older(spec.flush_interval);
            }
            let store = self.storage.stores().get(&spec.stores[0])?;
            upload(journal, &store).await?;
            if !spec.retention.is_zero() {
                if let Some(end) = expire(journal, spec.retention).await? {
                    prune_local(journal, end).await?;
                }
            }
        }
        if !spec.retention.is_zero() {
            if let Some(first) = journal.remote().first().map(|f| f.begin) {
                prune_local(journal, first).await?;
            }
        }
        Ok(())
    }
}

/// Uploads the persistable fragments the stores do not hold yet, oldest first; stops
/// at the first failure so the stored fragments stay contiguous.
async fn upload(journal: &Arc<Journal>, store: &Arc<FragmentStore>) -> Result<(), JournalError> {
    for (begin, end, file) in journal.persistable() {
        let held = journal.remote().iter().any(|f| f.begin <= begin && f.end >= end);
        if held {
            continue;
        }
        let name = journal.name().to_string();
        let bytes = tokio::task::spawn_blocking(move || FragmentFile::read(&file, begin, begin, (end - begin) as usize))
            .await
            .map_err(|e| JournalError::Unavailable(format!("reading a fragment of {name:?}: {e}")))?
            .map_err(|e| JournalError::io(format!("reading fragment [{begin}, {end}) of journal {:?}", journal.name()), e))?;
        let sum: [u8; 20] = Sha1::digest(&bytes).into();
        let stored = store.put(journal.name(), begin, Bytes::from(bytes), sum).await?;
        tracing::info!(journal = %journal.name(), begin, end, store = %store.url, "persisted a fragment");
        let mut remote = journal.remote();
        remote.push(stored);
        remote.sort_by_key(|f| (f.begin, f.end));
        journal.set_remote(remote);
    }
    Ok(())
}

/// Deletes stored fragments older than `retention`, oldest first; returns the end of
/// the last one deleted.
async fn expire(journal: &Arc<Journal>, retention: Duration) -> Result<Option<i64>, JournalError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let horizon = now - retention.as_secs().max(1) as i64;
    let mut deleted = None;
    for f in journal.remote() {
        if f.mod_time > horizon {
            break;
        }
        f.store.delete(&f).await?;
        tracing::info!(journal = %journal.name(), begin = f.begin, end = f.end, store = %f.store.url, "retention removed a stored fragment");
        let mut remote = journal.remote();
        remote.retain(|r| !(r.begin == f.begin && r.end == f.end && Arc::ptr_eq(&r.store, &f.store)));
        journal.set_remote(remote);
        deleted = Some(f.end);
    }
    Ok(deleted)
}

/// Prunes local fragments that end at or before `before`: retention removed their
/// stored copies (the primary knows which; a replica sees the store's first fragment).
async fn prune_local(journal: &Arc<Journal>, before: i64) -> Result<(), JournalError> {
    let before = before.min(journal.head());
    if before <= journal.local_low() {
        return Ok(());
    }
    let j = journal.clone();
    tokio::task::spawn_blocking(move || j.prune(before))
        .await
        .map_err(|e| JournalError::Unavailable(format!("pruning journal {:?}: {e}", journal.name())))??;
    Ok(())
}
