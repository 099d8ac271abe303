use super::*;
use crate::allocator::MemberId;
use crate::etcd::test_support::{kv, snapshot, TextValues, ROOT};

fn m(suffix: &str) -> MemberId {
    MemberId::new("z", suffix)
}

fn state() -> AllocState<String> {
    let s = snapshot(
        30,
        vec![
            kv("/members/z#a", "9", 2, 4, 0xa),
            kv("/members/z#b", "9", 3, 3, 0xb),
            kv("/items/x", "2", 5, 6, 0),
            kv("/assign/x#z#a#1", "ready", 10, 12, 0xa),
            kv("/assign/x#z#b#0", "", 11, 11, 0xb),
            kv("/assign/dead#z#a#0", "", 7, 7, 0xa),
        ],
    );
    AllocState::new(ROOT, &s, &TextValues)
}

fn leader_guard() -> Guard {
    Guard::ModRevision { key: "/t/members/z#a".into(), revision: 4 }
}

fn rev(key: &str, revision: i64) -> Guard {
    Guard::ModRevision { key: key.into(), revision }
}

#[test]
fn an_add_puts_an_empty_value_under_the_members_lease_if_the_member_is_unchanged() {
    let ops = [Op::Put(Assignment::new("x", &m("b"), 2, false))];
    let txns = plan(ROOT, &state(), &ops, &[leader_guard()]).unwrap();
    assert_eq!(
        txns,
        [TxnPlan {
            guards: vec![leader_guard(), rev("/t/members/z#b", 3)],
            writes: vec![Write::Put { key: "/t/assign/x#z#b#2".into(), value: vec![], lease: 0xb }],
        }]
    );
}

#[test]
fn a_move_copies_the_value_and_lease_to_the_new_slot_if_the_old_key_is_unchanged() {
    let a = Assignment::new("x", &m("a"), 1, true);
    let ops = [Op::Delete(a.clone()), Op::Put(Assignment { slot: 0, ..a })];
    let txns = plan(ROOT, &state(), &ops, &[]).unwrap();
    assert_eq!(
        txns,
        [TxnPlan {
            guards: vec![rev("/t/assign/x#z#a#1", 12)],
            writes: vec![
                Write::Delete { key: "/t/assign/x#z#a#1".into() },
                Write::Put { key: "/t/assign/x#z#a#0".into(), value: b"ready".to_vec(), lease: 0xa },
            ],
        }]
    );
}

#[test]
fn a_removal_is_guarded_by_the_assignment_and_once_by_the_item_or_its_absence() {
    let ops = [
        Op::Delete(Assignment::new("dead", &m("a"), 0, false)),
        Op::Delete(Assignment::new("x", &m("a"), 1, true)),
        Op::Delete(Assignment::new("x", &m("b"), 0, false)),
    ];
    let txns = plan(ROOT, &state(), &ops, &[]).unwrap();
    assert_eq!(txns.len(), 1);
    assert_eq!(
        txns[0].guards,
        [
            Guard::Absent { key: "/t/items/dead".into() },
            rev("/t/assign/dead#z#a#0", 7),
            rev("/t/items/x", 6),
            rev("/t/assign/x#z#a#1", 12),
            rev("/t/assign/x#z#b#0", 11),
        ]
    );
    assert_eq!(txns[0].writes.len(), 3);
}

#[test]
fn operations_on_what_the_state_lacks_are_dropped() {
    let ops = [Op::Put(Assignment::new("x", &m("nobody"), 2, false)), Op::Delete(Assignment::new("x", &m("b"), 7, false))];
    assert!(plan(ROOT, &state(), &ops, &[leader_guard()]).unwrap().is_empty());
}

#[test]
fn transactions_hold_at_most_128_writes_and_comparisons_and_never_split_an_item() {
    assert_eq!(MAX_TXN_OPS, 128, "etcd's default --max-txn-ops");
    let mut kvs = vec![kv("/members/z#a", "1000", 2, 4, 0xa)];
    kvs.extend((0..200).map(|i| kv(&format!("/items/i{i:03}"), "1", 5, 5, 0)));
    let state = AllocState::new(ROOT, &snapshot(9, kvs), &TextValues);
    let ops: Vec<Op> = (0..200).map(|i| Op::Put(Assignment::new(format!("i{i:03}"), &m("a"), 0, false))).collect();
    let txns = plan(ROOT, &state, &ops, &[leader_guard()]).unwrap();
    let sizes: Vec<(usize, usize)> = txns.iter().map(|t| (t.guards.len(), t.writes.len())).collect();
    assert_eq!(sizes, [(128, 127), (74, 73)], "each carries the leader's guard; each add brings one guard");
    assert!(txns.iter().all(|t| t.guards[0] == leader_guard()));

    // Two writes per item (a move): 64 items fill 128 writes exactly.
    let mut kvs = vec![kv("/members/z#a", "1000", 2, 4, 0xa)];
    kvs.extend((0..65).map(|i| kv(&format!("/assign/i{i:03}#z#a#1"), "", 5, 5, 0xa)));
    kvs.extend((0..65).map(|i| kv(&format!("/items/i{i:03}"), "1", 5, 5, 0)));
    let state = AllocState::new(ROOT, &snapshot(9, kvs), &TextValues);
    let ops: Vec<Op> = (0..65)
        .flat_map(|i| {
            let a = Assignment::new(format!("i{i:03}"), &m("a"), 1, false);
            [Op::Delete(a.clone()), Op::Put(Assignment { slot: 0, ..a })]
        })
        .collect();
    let txns = plan(ROOT, &state, &ops, &[]).unwrap();
    let writes: Vec<usize> = txns.iter().map(|t| t.writes.len()).collect();
    assert_eq!(writes, [128, 2]);
}

#[test]
fn an_item_needing_more_than_one_transaction_is_an_error() {
    let mut kvs = vec![kv("/items/big", "200", 5, 5, 0)];
    kvs.extend((0..129).map(|i| kv(&format!("/members/z#m{i:03}"), "1", 2, 2, 1)));
    let state = AllocState::new(ROOT, &snapshot(9, kvs), &TextValues);
    let ops: Vec<Op> = (0..129).map(|i| Op::Put(Assignment::new("big", &m(&format!("m{i:03}")), i, false))).collect();
    match plan(ROOT, &state, &ops, &[]) {
        Err(Error::TxnTooLarge { item, writes: 129, guards: 129, max: 128 }) => assert_eq!(item, "big"),
        other => panic!("expected TxnTooLarge, got {other:?}"),
    }
}
