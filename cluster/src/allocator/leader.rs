//! Which member runs the allocator.
//!
//! Gazette's `allocator/alloc_state.go` (`isLeader`): every member computes the same
//! answer from its copy of the keyspace, so exactly one of them acts. The leader is
//! the member whose key has the lowest etcd create revision, i.e. the oldest lease;
//! a new member never takes over from a running one, and when the leader's lease
//! ends its key vanishes and the next-oldest member takes over. Keys created in one
//! transaction share a revision; Gazette then picks the first in key order, and so
//! does this.

use super::model::MemberId;

/// The leader among `members`, each given with its key's create revision; `None`
/// when there are none.
pub fn leader(members: &[(MemberId, i64)]) -> Option<&MemberId> {
    members.iter().min_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0))).map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(suffix: &str, revision: i64) -> (MemberId, i64) {
        (MemberId::new("zone", suffix), revision)
    }

    #[test]
    fn the_leader_is_the_member_with_the_lowest_create_revision() {
        let cases: Vec<(&str, Vec<(MemberId, i64)>, Option<&str>)> = vec![
            ("no members, no leader", vec![], None),
            ("a lone member leads", vec![m("a", 7)], Some("a")),
            ("the oldest key wins regardless of name", vec![m("a", 9), m("z", 3), m("m", 5)], Some("z")),
            ("ties (one transaction) go to the lower key", vec![m("b", 4), m("a", 4), m("c", 2), m("c2", 2)], Some("c")),
        ];
        for (name, members, want) in cases {
            assert_eq!(leader(&members).map(|id| id.suffix.as_str()), want, "{name}");
        }
    }

    #[test]
    fn zones_order_ties_before_suffixes() {
        let members = [(MemberId::new("zone-b", "a"), 1), (MemberId::new("zone-a", "z"), 1)];
        assert_eq!(leader(&members), Some(&MemberId::new("zone-a", "z")));
    }
}
