use std::time::Duration;

use serde_json::json;

use super::*;

fn stream_sum_set() -> Value {
    json!({
        "common": {
            "recovery_log_prefix": "examples/stream-sum/recovery-logs",
            "hint_prefix": "/gazette/hints/examples/stream-sum",
            "hint_backups": 2,
            "max_txn_duration": "1s",
            "hot_standbys": 1,
            "labels": [{"name": "app", "value": "summer"}, {"name": "store", "value": "rocksdb"}]
        },
        "shards": [
            {"id": "chunks-part-000", "sources": [{"journal": "examples/stream-sum/chunks/part-000"}]},
            {"id": "chunks-part-001", "sources": [{"journal": "examples/stream-sum/chunks/part-001", "min_offset": 42}],
             "hot_standbys": 2, "labels": [{"name": "store", "value": "sqlite"}]},
            {"id": "chunks-part-002", "delete": true}
        ]
    })
}

#[test]
fn shards_inherit_common_fields_and_labels_merge_by_name() {
    let changes = parse_shard_set(&stream_sum_set()).unwrap();
    assert_eq!(changes.len(), 3);
    let ShardChange::Upsert(first) = &changes[0] else { panic!("{changes:?}") };
    assert_eq!(first.id, "chunks-part-000");
    assert_eq!(first.recovery_log(), "examples/stream-sum/recovery-logs/chunks-part-000");
    assert_eq!(first.max_txn_duration, Duration::from_secs(1));
    assert_eq!((first.hot_standbys, first.hint_backups, first.desired_replication()), (1, 2, 2));
    assert_eq!(first.labels, LabelSet::from_pairs([("app", "summer"), ("store", "rocksdb")]));

    let ShardChange::Upsert(second) = &changes[1] else { panic!("{changes:?}") };
    assert_eq!(second.sources, vec![Source { journal: "examples/stream-sum/chunks/part-001".into(), min_offset: 42 }]);
    assert_eq!(second.hot_standbys, 2, "a shard's own value wins over common");
    assert_eq!(second.labels, LabelSet::from_pairs([("app", "summer"), ("store", "sqlite")]));
    assert_eq!(changes[2], ShardChange::Delete("chunks-part-002".into()));
}

#[test]
fn the_runtime_spec_carries_the_source_and_durations() {
    let changes = parse_shard_set(&stream_sum_set()).unwrap();
    let ShardChange::Upsert(spec) = &changes[1] else { panic!() };
    let runtime = spec.runtime(5);
    assert_eq!(runtime.id, "chunks-part-001");
    assert_eq!(runtime.source, "examples/stream-sum/chunks/part-001");
    assert_eq!((runtime.max_txn_duration, runtime.min_txn_duration, runtime.max_failures), (Duration::from_secs(1), Duration::ZERO, 5));
}

#[test]
fn a_spec_round_trips_through_json() {
    let changes = parse_shard_set(&stream_sum_set()).unwrap();
    let ShardChange::Upsert(spec) = &changes[1] else { panic!() };
    let text = serde_json::to_string(spec).unwrap();
    let back: DeclaredShard = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, spec, "{text}");
}

#[test]
fn disabled_shards_want_no_hosts() {
    let spec = DeclaredShard { disable: true, hot_standbys: 3, ..Default::default() };
    assert_eq!(spec.desired_replication(), 0);
}

#[test]
fn bad_sets_are_refused_naming_the_shard_and_field() {
    let base = || stream_sum_set();
    let with = |path: &str, value: Value| {
        let mut doc = base();
        let mut target = &mut doc;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            target = match p.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[*p],
            };
        }
        target[parts[parts.len() - 1]] = value;
        doc
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no shards", json!({"common": {}}), "`shards:` must be a non-empty list"),
        ("unknown top-level key", json!({"shard": []}), "unknown top-level key \"shard\""),
        ("an id in common", with("common.id", json!("x")), "`common:` cannot set `id`"),
        ("a shard without id", with("shards.0.id", Value::Null), "shards[0]: `id:` is required"),
        ("a repeated id", with("shards.1.id", json!("chunks-part-000")), "shards[1] (chunks-part-000): the id is given twice"),
        ("an unknown field", with("shards.0.sourcez", json!([])), "shards[0] (chunks-part-000): unknown field `sourcez`"),
        ("two sources", with("shards.0.sources", json!([{"journal": "a/bcd"}, {"journal": "a/efg"}])), "exactly one journal per shard (got 2)"),
        ("a bad journal", with("shards.0.sources", json!([{"journal": "/abs"}])), "sources[0].journal"),
        ("a negative offset", with("shards.0.sources", json!([{"journal": "a/bcd", "min_offset": -1}])), "sources[0].min_offset is -1"),
        ("no recovery log prefix", with("common.recovery_log_prefix", json!("")), "recovery_log_prefix is required"),
        ("a relative hint prefix", with("common.hint_prefix", json!("hints")), "hint_prefix \"hints\" is not an absolute"),
        ("a zero max txn", with("common.max_txn_duration", json!("0s")), "max_txn_duration must be > 0"),
        ("min over max", with("shards.0.min_txn_duration", json!("2s")), "min_txn_duration 2s exceeds"),
        ("a bad duration", with("shards.0.min_txn_duration", json!("soon")), "shards[0] (chunks-part-000)"),
        ("an id label", with("shards.0.labels", json!([{"name": "id", "value": "x"}])), "cannot include label \"id\""),
        ("a short id", with("shards.0.id", json!("abc")), "shard id \"abc\" has length 3"),
        ("a bad delete", with("shards.2.delete", json!("yes")), "`delete:` must be true or false"),
    ];
    for (name, doc, want) in cases {
        let err = parse_shard_set(&doc).expect_err(name);
        assert!(err.contains(want), "{name}: {err:?} does not contain {want:?}");
    }
}
