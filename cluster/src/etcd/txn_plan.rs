//! From converge's operations to guarded etcd transactions.
//!
//! Gazette's `allocator/item_state.go` (`buildAddOps`, `buildRemoveOps`,
//! `buildMoveOps`), `removeDeadAssignments` and `batchedTxn` in `allocator.go`.
//! Each operation becomes writes plus the comparisons that make it safe against
//! whatever changed since the snapshot it was computed from:
//!
//! - an **add** (a `Put` of a member not holding the item) puts an empty value under
//!   the *member's* lease, guarded by the member key's mod revision (its limit may
//!   have dropped);
//! - a **move** (a `Delete` directly followed by a `Put` of the same item and member:
//!   a promotion or renumbering) deletes the old key and puts its value under its
//!   lease at the new key, guarded by the old key's mod revision;
//! - a **removal** deletes the key, guarded by its mod revision and, once per item,
//!   by the item key's mod revision (its replication may have risen) — or, for an item
//!   that no longer exists, by the item key still not existing (it may be re-created).
//!
//! An item's writes stay in one transaction (a checkpoint); transactions hold at
//! most [`MAX_TXN_OPS`] writes and as many comparisons, each also carrying the
//! `fixed` guards (the leader's own member key: a leader that lost its key must not
//! write).

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};

use super::alloc_state::AllocState;
use super::Error;
use crate::allocator::keys::{assignment_key, item_key};
use crate::allocator::{Assignment, Op};

/// etcd's default `--max-txn-ops`: the most writes, and separately the most
/// comparisons, one transaction may hold.
pub(crate) const MAX_TXN_OPS: usize = 128;

/// A comparison a transaction requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Guard {
    /// The key's mod revision is still this.
    ModRevision { key: String, revision: i64 },
    /// The key does not exist (its create revision is 0).
    Absent { key: String },
}

/// A write in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    /// Put `value` at `key` under `lease` (0: none).
    Put { key: String, value: Vec<u8>, lease: i64 },
    /// Delete `key`.
    Delete { key: String },
}

/// One etcd transaction: if every guard holds, do every write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TxnPlan {
    pub guards: Vec<Guard>,
    pub writes: Vec<Write>,
}

impl TxnPlan {
    /// The etcd transaction.
    pub(crate) fn to_txn(&self) -> Txn {
        let compares: Vec<Compare> = self
            .guards
            .iter()
            .map(|g| match g {
                Guard::ModRevision { key, revision } => Compare::mod_revision(key.as_str(), CompareOp::Equal, *revision),
                Guard::Absent { key } => Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
            })
            .collect();
        let ops: Vec<TxnOp> = self
            .writes
            .iter()
            .map(|w| match w {
                Write::Put { key, value, lease } => TxnOp::put(key.as_str(), value.clone(), Some(PutOptions::new().with_lease(*lease))),
                Write::Delete { key } => TxnOp::delete(key.as_str(), None),
            })
            .collect();
        Txn::new().when(compares).and_then(ops)
    }
}

/// The transactions applying `ops` (converge's output for `state`), in order.
///
/// An operation naming a member or assignment missing from `state` is dropped with a
/// warning (converge only names what it was given, so this means a caller mixed
/// states).
///
/// # Errors
/// [`Error::TxnTooLarge`] if one item's writes or comparisons (with `fixed`) exceed
/// [`MAX_TXN_OPS`]; [`Error::Key`] if a name cannot form a key.
pub(crate) fn plan<V>(root: &str, state: &AllocState<V>, ops: &[Op], fixed: &[Guard]) -> Result<Vec<TxnPlan>, Error> {
    let mut txns = Vec::new();
    let mut current = TxnPlan { guards: fixed.to_vec(), writes: Vec::new() };
    for run in ops.chunk_by(|a, b| a.assignment().item_id == b.assignment().item_id) {
        let item = checkpoint(root, state, run)?;
        let item_id = &run[0].assignment().item_id;
        if item.writes.len() > MAX_TXN_OPS || item.guards.len() + fixed.len() > MAX_TXN_OPS {
            let (writes, guards) = (item.writes.len(), item.guards.len() + fixed.len());
            return Err(Error::TxnTooLarge { item: item_id.clone(), writes, guards, max: MAX_TXN_OPS });
        }
        let full = current.writes.len() + item.writes.len() > MAX_TXN_OPS || current.guards.len() + item.guards.len() > MAX_TXN_OPS;
        if full {
            txns.push(std::mem::replace(&mut current, TxnPlan { guards: fixed.to_vec(), writes: Vec::new() }));
        }
        current.guards.extend(item.guards);
        current.writes.extend(item.writes);
    }
    if !current.writes.is_empty() {
        txns.push(current);
    }
    Ok(txns)
}

/// The guards and writes of one item's operations.
fn checkpoint<V>(root: &str, state: &AllocState<V>, ops: &[Op]) -> Result<TxnPlan, Error> {
    let item_id = &ops[0].assignment().item_id;
    let mut plan = TxnPlan::default();
    let mut item_guarded = false;
    let mut i = 0;
    while i < ops.len() {
        match (&ops[i], ops.get(i + 1)) {
            (Op::Delete(from), Some(Op::Put(to))) if from.member() == to.member() => {
                move_op(root, state, from, to, &mut plan)?;
                i += 2;
                continue;
            }
            (Op::Delete(a), _) => {
                let Some(entry) = state.assignment(a) else {
                    tracing::warn!(assignment = ?a, "dropping the removal of an assignment the state does not hold");
                    i += 1;
                    continue;
                };
                if !item_guarded {
                    plan.guards.push(match state.item(item_id) {
                        Some(item) => Guard::ModRevision { key: item.key.clone(), revision: item.kv.mod_revision },
                        None => Guard::Absent { key: item_key(root, item_id)? },
                    });
                    item_guarded = true;
                }
                plan.guards.push(Guard::ModRevision { key: entry.key.clone(), revision: entry.kv.mod_revision });
                plan.writes.push(Write::Delete { key: entry.key.clone() });
            }
            (Op::Put(a), _) => {
                let Some(member) = state.member(&a.member()) else {
                    tracing::warn!(assignment = ?a, "dropping an add to a member the state does not hold");
                    i += 1;
                    continue;
                };
                plan.guards.push(Guard::ModRevision { key: member.key.clone(), revision: member.kv.mod_revision });
                plan.writes.push(Write::Put { key: assignment_key(root, a)?, value: Vec::new(), lease: member.kv.lease });
            }
        }
        i += 1;
    }
    Ok(plan)
}

/// Moves `from`'s key to `to`'s, keeping its value and lease.
fn move_op<V>(root: &str, state: &AllocState<V>, from: &Assignment, to: &Assignment, plan: &mut TxnPlan) -> Result<(), Error> {
    let Some(entry) = state.assignment(from) else {
        tracing::warn!(assignment = ?from, "dropping the move of an assignment the state does not hold");
        return Ok(());
    };
    plan.guards.push(Guard::ModRevision { key: entry.key.clone(), revision: entry.kv.mod_revision });
    plan.writes.push(Write::Delete { key: entry.key.clone() });
    plan.writes.push(Write::Put { key: assignment_key(root, to)?, value: entry.kv.value.clone(), lease: entry.kv.lease });
    Ok(())
}

#[cfg(test)]
#[path = "txn_plan_tests.rs"]
mod tests;
