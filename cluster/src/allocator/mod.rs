//! Gazette's allocator as pure functions: which member should hold which item, and
//! how to get there safely.
//!
//! Gazette's `allocator/` package (`doc.go` tells its story). Members (brokers, or
//! consumer processes) register keys under their etcd leases; items (journals, or
//! shards) want `R` members each; assignments record who holds what, slot 0 being
//! the primary. One member — the [`leader`], the oldest lease — repeatedly:
//!
//! 1. reads members, items and assignments from its watched copy of the keyspace;
//! 2. [`solve`]s for the desired assignments when members or items changed;
//! 3. [`converge`]s: computes the safe next [`Op`]s towards them and applies them in
//!    etcd transactions guarded by the revisions it read;
//! 4. waits for etcd to move on (its writes, members reporting consistency) and goes
//!    back to 1. When no step is safe and no report can make one safe
//!    ([`stalled`]), it takes an [`unstall`] step instead.
//!
//! Everything here is steps 2 and 3 plus the leader rule and the key shapes: no I/O,
//! no clocks, no etcd. The same inputs always give the same outputs (inputs are
//! sorted first), so tests drive whole scenarios by applying the ops to a vector.
//!
//! # The model
//!
//! - [`Member`] `{ zone, suffix, item_limit }`, [`Item`] `{ id,
//!   desired_replication }`, [`Assignment`] `{ item_id, member_zone,
//!   member_suffix, slot, consistent }` ([`model`]), from and to etcd keys by
//!   [`keys`].
//! - [`solve`] is a minimum-cost maximum flow ([`flow`]) over Gazette's network
//!   `source → item → (item, zone) → member → sink` ([`network`]): the flow is
//!   maximal, so every item gets as many of its R members as limits allow; among
//!   maximal flows it is the cheapest, where costs rank Gazette's goals — spread each
//!   item over two zones, then keep current assignments and load members to their
//!   fair share, then balance an item across zones.
//! - [`converge`] is Gazette's per-item step ([`item_state`]): add what is missing,
//!   remove what is not desired only while R consistent assignments remain, promote a
//!   consistent replica when there is no primary, renumber slots when nothing else
//!   is happening. Member counts for limits and load ratios are [`load`]'s.
//!
//! # Where this differs from Gazette
//!
//! - Preferences are costs solved exactly, not arc orderings and height thresholds
//!   steering a greedy push/relabel ([`flow`] explains); the results are the same in
//!   kind (Gazette's scenarios are re-played in the tests) but not always key for key.
//! - When members cannot hold every replica, each item gets a primary before any item
//!   gets a second replica; Gazette instead fills items in id order.
//! - One network for all items; Gazette solves chunks of 10,000 items.
//! - No exiting-member "shed capacity": drain a member by setting its limit to zero.
//! - Keys are validated rather than asserted ([`keys`]).

mod converge;
mod flow;
mod item_state;
pub mod keys;
mod leader;
mod load;
pub mod model;
mod network;
mod solve;

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod properties_tests;
#[cfg(test)]
mod movement_tests;
#[cfg(test)]
mod scenarios_tests;
#[cfg(test)]
mod zone_scenarios_tests;

pub use converge::{converge, stalled, unstall};
pub use keys::KeyError;
pub use leader::leader;
pub use model::{Assignment, Desired, Item, Member, MemberId, Op};
pub use solve::{changes, solve, Changes};
