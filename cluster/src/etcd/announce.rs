//! Announcing a member: its key, under a lease this process keeps alive.
//!
//! Gazette's `allocator/announce.go` (`Announce`, `Announcement.Update`) and the lease
//! half of `StartSession`. A member's key `<root>/members/<zone>#<suffix>` says three
//! things at once: the process exists, its configuration (the value: endpoint, item
//! limit), and that it is alive (the lease). Its assignments are put under the same
//! lease by the allocator, so when the process stops renewing — it crashed, or is cut
//! off — the key and every assignment vanish together when the lease expires, and a
//! graceful stop revokes the lease to make that happen at once.
//!
//! Gazette's `Announce` waits for an existing key to vanish (a previous process's
//! lease running out); this fails instead, naming the key, since two live processes
//! with one member id would serve the same assignments.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::guarded::put_if_unchanged;
use super::lease::{keep_alive, ttl_seconds};
use super::Error;
use crate::allocator::keys::member_key;
use crate::allocator::MemberId;

/// A key announced under this process's lease, kept alive until revoked or dropped.
///
/// Dropping it stops the renewals without revoking: the key then lasts until the
/// lease expires, as after a crash. Call [`Announcement::revoke`] to stop gracefully.
pub struct Announcement {
    /// The client renewals and updates go through.
    client: Client,
    /// The announced key.
    key: String,
    /// The lease the key (and the member's assignments) live under.
    lease: i64,
    /// The TTL etcd granted.
    ttl: Duration,
    /// The key's current mod revision: updates are guarded by it.
    revision: i64,
    /// The revision that created the key (the leader rule compares these).
    create_revision: i64,
    /// True once the lease is lost (or revoked).
    lost: watch::Sender<bool>,
    /// The task renewing the lease.
    keeper: JoinHandle<()>,
}

impl Announcement {
    /// Grants a lease of `ttl` (whole seconds, rounded up; etcd may raise very short
    /// ones), puts `value` at `key` under it if the key does not exist, and starts
    /// renewing the lease.
    ///
    /// # Errors
    /// [`Error::AlreadyAnnounced`] if the key exists under another lease (the lease
    /// granted here is revoked again); [`Error::Etcd`] if etcd cannot be asked.
    pub async fn announce(client: Client, key: &str, value: impl Into<Vec<u8>>, ttl: Duration) -> Result<Self, Error> {
        let granted_at = Instant::now();
        let grant = client.lease_client().grant(ttl_seconds(ttl), None).await.map_err(Error::etcd("granting a lease"))?;
        let (lease, ttl) = (grant.id(), Duration::from_secs(u64::try_from(grant.ttl()).unwrap_or(1)));

        let txn = Txn::new()
            .when([Compare::version(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, Some(PutOptions::new().with_lease(lease)))])
            .or_else([TxnOp::get(key, None)]);
        let response = match client.kv_client().txn(txn).await {
            Ok(response) => response,
            Err(error) => {
                revoke_quietly(&client, lease).await;
                return Err(Error::etcd(format!("announcing {key}"))(error));
            }
        };
        if !response.succeeded() {
            let holder = response.op_responses().into_iter().find_map(|r| match r {
                TxnOpResponse::Get(get) => get.kvs().first().map(|kv| kv.lease()),
                _ => None,
            });
            revoke_quietly(&client, lease).await;
            return Err(Error::AlreadyAnnounced { key: key.to_string(), lease: holder.unwrap_or(0) });
        }
        let revision = response.header().map_or(0, |h| h.revision());

        let (lost, _) = watch::channel(false);
        let keeper = tokio::spawn(keep_alive(client.clone(), lease, ttl, granted_at + ttl, lost.clone()));
        tracing::info!(%key, lease = format_args!("{lease:#x}"), ttl_s = ttl.as_secs(), revision, "announced");
        Ok(Announcement { client, key: key.to_string(), lease, ttl, revision, create_revision: revision, lost, keeper })
    }

    /// Announces `member` under `root`: [`Announcement::announce`] of
    /// `<root>/members/<zone>#<suffix>`.
    ///
    /// # Errors
    /// [`Error::Key`] for a zone or suffix the key shape cannot hold, otherwise as
    /// [`Announcement::announce`].
    pub async fn announce_member(client: Client, root: &str, member: &MemberId, value: impl Into<Vec<u8>>, ttl: Duration) -> Result<Self, Error> {
        let key = member_key(root, member)?;
        Announcement::announce(client, &key, value, ttl).await
    }

    /// The announced key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lease id.
    pub fn lease(&self) -> i64 {
        self.lease
    }

    /// The TTL etcd granted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The key's mod revision as last written by this announcement.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The revision that created the key.
    pub fn create_revision(&self) -> i64 {
        self.create_revision
    }

    /// A receiver that turns true when the lease is lost (not renewed in time, or
    /// unknown to etcd) or revoked; then the process must stop serving what it was
    /// assigned. `wait_for(|lost| *lost)` on it also returns (with an error) once the
    /// announcement is dropped.
    pub fn lease_lost(&self) -> watch::Receiver<bool> {
        self.lost.subscribe()
    }

    /// Whether the lease is lost.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Replaces the key's value (e.g. a new item limit: zero drains the member),
    /// keeping its lease, if nobody else changed it. Returns the write's revision.
    ///
    /// # Errors
    /// [`Error::Conflict`] if the key was modified or deleted externally;
    /// [`Error::Etcd`] if etcd cannot be asked.
    pub async fn update(&mut self, value: impl Into<Vec<u8>>) -> Result<i64, Error> {
        let revision = put_if_unchanged(&self.client, &self.key, self.revision, value).await?;
        self.revision = revision;
        Ok(revision)
    }

    /// Stops renewing and revokes the lease: the key and everything else under the
    /// lease (the member's assignments) vanish at once. Returns the revision at which
    /// they did.
    ///
    /// # Errors
    /// [`Error::Etcd`] if etcd cannot be asked; the lease then expires by its TTL.
    pub async fn revoke(self) -> Result<i64, Error> {
        self.keeper.abort();
        self.lost.send_replace(true);
        let response = self.client.lease_client().revoke(self.lease).await.map_err(Error::etcd(format!("revoking the lease of {}", self.key)))?;
        tracing::info!(key = %self.key, lease = format_args!("{:#x}", self.lease), "revoked");
        Ok(response.header().map_or(0, |h| h.revision()))
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

/// Revokes a lease nobody uses, logging rather than failing (it expires anyway).
async fn revoke_quietly(client: &Client, lease: i64) {
    if let Err(error) = client.lease_client().revoke(lease).await {
        tracing::warn!(lease = format_args!("{lease:#x}"), %error, "could not revoke an unused lease (it will expire)");
    }
}
