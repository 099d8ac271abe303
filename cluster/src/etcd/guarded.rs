//! Writing a key only if nobody changed it since it was read.
//!
//! Gazette's `Announcement.Update`, `consumer/shard.go` (`updateStatus`) and
//! `broker/replica.go` (`updateAssignments`): compare the key's mod revision with the
//! one read, and put the new value keeping the key's lease (etcd's `ignore_lease`),
//! so an assignment still vanishes with its member's lease. A member reports its
//! assignments' status this way; the allocator reads the status to decide what is
//! consistent.

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};

use super::Error;

/// Puts `value` at `key` if its mod revision is still `mod_revision`, keeping its
/// lease. Returns the revision of the write: wait for the keyspace to reach it
/// ([`super::KeySpace::wait_for_revision`]) before acting on the new value.
///
/// # Errors
/// [`Error::Conflict`] if the key changed or vanished (read the keyspace again);
/// [`Error::Etcd`] if etcd could not be asked.
pub async fn put_if_unchanged(client: &Client, key: &str, mod_revision: i64, value: impl Into<Vec<u8>>) -> Result<i64, Error> {
    let txn = Txn::new()
        .when([Compare::mod_revision(key, CompareOp::Equal, mod_revision)])
        .and_then([TxnOp::put(key, value, Some(PutOptions::new().with_ignore_lease()))]);
    let response = client.kv_client().txn(txn).await.map_err(Error::etcd(format!("updating {key}")))?;
    if !response.succeeded() {
        return Err(Error::Conflict { key: key.to_string(), expected: mod_revision });
    }
    Ok(response.header().map_or(0, |h| h.revision()))
}

/// Gazette's `updateAssignments` (`broker/replica.go`): the primary of a journal writes
/// `value` (the route it synced its replicas with) into every assignment of the
/// journal that does not hold it yet, as one transaction guarded by the mod revision
/// of every assignment `(key, mod_revision, holds_value)`, each keeping its lease.
/// Returns the revision of the write (0 if nothing needed writing).
///
/// # Errors
/// [`Error::Conflict`] if any assignment changed or vanished; [`Error::Etcd`].
pub async fn update_all_assignments(client: &Client, assignments: &[(String, i64, bool)], value: impl Into<Vec<u8>>) -> Result<i64, Error> {
    let value = value.into();
    let compares: Vec<Compare> = assignments.iter().map(|(k, rev, _)| Compare::mod_revision(k.as_str(), CompareOp::Equal, *rev)).collect();
    let puts: Vec<TxnOp> = assignments
        .iter()
        .filter(|(_, _, holds)| !holds)
        .map(|(k, _, _)| TxnOp::put(k.as_str(), value.clone(), Some(PutOptions::new().with_ignore_lease())))
        .collect();
    if puts.is_empty() {
        return Ok(0);
    }
    let first = assignments.first().map_or(String::new(), |a| a.0.clone());
    let response = client.kv_client().txn(Txn::new().when(compares).and_then(puts)).await.map_err(Error::etcd(format!("updating the assignments of {first}")))?;
    if !response.succeeded() {
        return Err(Error::Conflict { key: first, expected: assignments.first().map_or(0, |a| a.1) });
    }
    Ok(response.header().map_or(0, |h| h.revision()))
}

/// Gazette's `UpdateAssignments` for one assignment: the holding member writes its
/// status (`value`) to the assignment key it read at `mod_revision`.
///
/// # Errors
/// As [`put_if_unchanged`]: a [`Error::Conflict`] typically means the allocator just
/// moved or removed the assignment.
pub async fn update_assignment(client: &Client, key: &str, mod_revision: i64, value: impl Into<Vec<u8>>) -> Result<i64, Error> {
    put_if_unchanged(client, key, mod_revision, value).await
}
