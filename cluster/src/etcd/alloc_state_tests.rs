use super::*;
use crate::etcd::test_support::{kv, snapshot, TextValues, ROOT};

fn state() -> AllocState<String> {
    let s = snapshot(
        20,
        vec![
            kv("/members/z#b", "5", 3, 3, 0xb),
            kv("/members/z#a", "2", 7, 9, 0xa),
            kv("/members/bad-no-separator", "1", 4, 4, 0),
            kv("/items/x", "2", 5, 5, 0),
            kv("/items/y/z", "1", 6, 6, 0),
            kv("/assign/x#z#a#10", "", 11, 11, 0xa),
            kv("/assign/x#z#b#2", "ready", 10, 12, 0xb),
            kv("/assign/gone#z#b#0", "ready", 8, 8, 0xb),
            kv("/assign/x#z#b#01", "", 13, 13, 0xb),
            kv("/elsewhere", "", 1, 1, 0),
        ],
    );
    AllocState::new(ROOT, &s, &TextValues)
}

#[test]
fn members_items_and_assignments_come_from_their_keys_and_the_callers_values() {
    let s = state();
    assert_eq!(s.revision, 20);
    assert_eq!(s.member_models(), [Member::new("z", "a", 2), Member::new("z", "b", 5)], "sorted; the malformed key is left out");
    assert_eq!(s.item_models(), [Item::new("x", 2), Item::new("y/z", 1)]);
    let keys: Vec<&str> = s.assignments.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["/t/assign/gone#z#b#0", "/t/assign/x#z#a#10", "/t/assign/x#z#b#2"], "slot 01 is not canonical");
    let consistent: Vec<bool> = s.assignments.iter().map(|a| a.assignment.consistent).collect();
    assert_eq!(consistent, [true, false, true]);
    assert_eq!(s.member(&MemberId::new("z", "a")).map(|m| m.kv.lease), Some(0xa));
    assert_eq!(s.item("y/z").map(|i| i.kv.mod_revision), Some(6));
    assert!(s.item("y").is_none());
}

#[test]
fn the_leader_is_the_member_with_the_oldest_key_whatever_its_name() {
    assert_eq!(state().leader(), Some(MemberId::new("z", "b")));
    assert_eq!(AllocState::new(ROOT, &snapshot(1, vec![]), &TextValues).leader(), None);
}

#[test]
fn assignments_are_found_by_item_member_and_slot_and_listed_by_member_and_item() {
    let s = state();
    let b = MemberId::new("z", "b");
    let found = s.assignment(&Assignment::new("x", &b, 2, false)).map(|a| a.key.as_str());
    assert_eq!(found, Some("/t/assign/x#z#b#2"), "consistency does not matter for the lookup");
    assert!(s.assignment(&Assignment::new("x", &b, 3, false)).is_none());
    let of_b: Vec<&str> = s.assignments_of(&b).map(|a| a.assignment.item_id.as_str()).collect();
    assert_eq!(of_b, ["gone", "x"]);
    assert_eq!(s.assignments_of_item("x").len(), 2);
    assert!(s.assignments_of_item("w").is_empty());
}

#[test]
fn consistency_is_judged_with_all_of_the_items_assignments_in_view() {
    struct AllOrNothing;
    impl AllocatorValues<String> for AllOrNothing {
        fn item_limit(&self, _: &String) -> u32 {
            1
        }
        fn desired_replication(&self, _: &String) -> u32 {
            1
        }
        fn is_consistent(&self, _: &Assignment, _: &String, all: &[(&Assignment, &String)]) -> bool {
            all.iter().all(|(_, v)| *v == "ready")
        }
    }
    let s = AllocState::new(ROOT, &state_snapshot(), &AllOrNothing);
    let verdicts: Vec<(&str, bool)> = s.assignments.iter().map(|a| (a.assignment.item_id.as_str(), a.assignment.consistent)).collect();
    assert_eq!(verdicts, [("gone", true), ("x", false), ("x", false)]);
}

fn state_snapshot() -> Snapshot<String> {
    snapshot(1, vec![kv("/assign/gone#z#b#0", "ready", 1, 1, 0), kv("/assign/x#z#a#0", "", 1, 1, 0), kv("/assign/x#z#b#1", "ready", 1, 1, 0)])
}

#[test]
fn check_key_rejects_malformed_allocator_keys_and_passes_others() {
    let cases = [
        ("/t/members/z#a", true),
        ("/t/members/za", false),
        ("/t/items/x/y", true),
        ("/t/items/x y", false),
        ("/t/assign/x#z#a#0", true),
        ("/t/assign/x#z#a#00", false),
        ("/t/specs/anything at all", true),
        ("/other/members/za", true),
    ];
    for (key, ok) in cases {
        assert_eq!(check_key(ROOT, key).is_ok(), ok, "{key}");
    }
}
