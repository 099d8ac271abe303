use std::time::Duration;

use prost::Message;
use streamsum_cluster::allocator::Assignment;
use streamsum_cluster::etcd::AllocatorValues;

use super::*;
use crate::consumer::shardspace::Source;

const ROOT: &str = "/r";

fn shard(id: &str, hot_standbys: u32) -> DeclaredShard {
    DeclaredShard {
        id: id.into(),
        sources: vec![Source { journal: format!("chunks/{id}"), min_offset: 0 }],
        recovery_log_prefix: "logs".into(),
        max_txn_duration: Duration::from_secs(1),
        hot_standbys,
        ..DeclaredShard::default()
    }
}

fn assignment(item: &str, suffix: &str, slot: u32) -> Assignment {
    Assignment { item_id: item.into(), member_zone: "z".into(), member_suffix: suffix.into(), slot, consistent: false }
}

#[test]
fn consumer_values_decode_by_their_place_under_the_root() {
    let id = ProcessId::new("z", "h1");
    let member = ConsumerValue::decode(ROOT, "/r/members/z#h1", &consumer_member_out(&id, "http://h1", 7)).unwrap();
    assert_eq!(ShardValues.item_limit(&member), 7);
    assert_eq!(endpoint_of(member.member().unwrap().process_spec.as_ref()), "http://h1");
    let item = ConsumerValue::decode(ROOT, "/r/items/shard-1", &shard_out(&shard("shard-1", 2))).unwrap();
    assert_eq!(item.shard(), Some(&shard("shard-1", 2)), "a shard spec round-trips through Gazette's ShardSpec");
    assert_eq!(ShardValues.desired_replication(&item), 3, "a primary and two standbys");
    let disabled = DeclaredShard { disable: true, ..shard("shard-2", 2) };
    assert_eq!(ShardValues.desired_replication(&ConsumerValue::decode(ROOT, "/r/items/shard-2", &shard_out(&disabled)).unwrap()), 0);
    let fresh = ConsumerValue::decode(ROOT, "/r/assign/shard-1#z#h1#0", b"").unwrap();
    assert_eq!(fresh.replica().map(|r| r.code), Some(ReplicaCode::Idle), "an assignment no one wrote yet is IDLE");
    let failed = ReplicaReport { code: ReplicaCode::Failed, errors: vec!["boom".into()] };
    let written = ConsumerValue::decode(ROOT, "/r/assign/shard-1#z#h1#0", &replica_out(&failed)).unwrap();
    assert_eq!(written.replica(), Some(&failed));
    assert_eq!(ConsumerValue::decode(ROOT, "/r/other", b"anything").unwrap(), ConsumerValue::Other);
}

#[test]
fn bad_values_and_keys_are_refused_naming_the_key() {
    let err = ConsumerValue::decode(ROOT, "/r/items/shard-1", b"\xff\xff not protobuf").unwrap_err();
    assert!(err.starts_with("/r/items/shard-1: not a ShardSpec"), "{err}");
    let invalid = pc::ShardSpec { id: "shard-1".into(), ..Default::default() }.encode_to_vec();
    let err = ConsumerValue::decode(ROOT, "/r/items/shard-1", &invalid).unwrap_err();
    assert!(err.starts_with("/r/items/shard-1: not a valid ShardSpec"), "{err}");
    let err = ConsumerValue::decode(ROOT, "/r/assign/shard-1#z#h1", b"").unwrap_err();
    assert!(err.contains("shard-1#z#h1"), "a key without its slot: {err}");
    let err = BrokerValue::decode(ROOT, "/r/members/z#b1", b"\xff").unwrap_err();
    assert!(err.starts_with("/r/members/z#b1: not a BrokerSpec"), "{err}");
}

#[test]
fn a_shard_replica_is_consistent_once_standby_or_primary() {
    let a = assignment("s", "h1", 1);
    let at = |code| ConsumerValue::Replica(ReplicaReport { code, errors: vec![] });
    for (code, want) in [
        (ReplicaCode::Idle, false),
        (ReplicaCode::Backfill, false),
        (ReplicaCode::Standby, true),
        (ReplicaCode::Primary, true),
        (ReplicaCode::Failed, false),
    ] {
        assert_eq!(ShardValues.is_consistent(&a, &at(code), &[]), want, "{code:?}");
    }
}

#[test]
fn a_journal_assignment_is_consistent_once_it_holds_the_current_route() {
    let journal = JournalSpec { name: "a/jrnl".into(), replication: 1, ..JournalSpec::default() };
    let item = BrokerValue::decode(ROOT, "/r/items/a/jrnl", &journal_out(&journal)).unwrap();
    assert_eq!(item.journal().map(|j| j.name.as_str()), Some("a/jrnl"));
    assert_eq!(JournalValues.desired_replication(&item), 1);
    let b1 = assignment("a/jrnl", "b1", 0);
    let b2 = assignment("a/jrnl", "b2", 1);
    let route = |suffixes: &[&str]| {
        let members = suffixes.iter().map(|s| ProcessId::new("z", *s)).collect();
        BrokerValue::Route(Some(crate::service::convert::route_out(&crate::journal::Route { members, primary: Some(0), endpoints: vec![] })))
    };
    let empty = BrokerValue::Route(None);
    assert!(!JournalValues.is_consistent(&b1, &empty, &[(&b1, &empty)]), "nothing written yet");
    let only_b1 = route(&["b1"]);
    assert!(JournalValues.is_consistent(&b1, &only_b1, &[(&b1, &only_b1)]));
    // A second replica joined: b1's route no longer covers it, and b2 wrote nothing.
    assert!(!JournalValues.is_consistent(&b1, &only_b1, &[(&b1, &only_b1), (&b2, &empty)]));
    assert!(!JournalValues.is_consistent(&b2, &empty, &[(&b1, &only_b1), (&b2, &empty)]));
    let both = route(&["b2", "b1"]);
    assert!(JournalValues.is_consistent(&b2, &both, &[(&b1, &both), (&b2, &both)]), "members compare as a set");
}
