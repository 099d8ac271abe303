use serde_json::json;

use super::*;
use crate::journal::{Codec, LabelSet};

fn stream_sum_tree() -> Value {
    json!({
        "name": "examples/stream-sum/",
        "replication": 1,
        "labels": [{"name": "app", "value": "stream-sum"}],
        "fragment": {"length": 1048576, "compression_codec": "SNAPPY", "retention": "720h"},
        "children": [
            {
                "name": "examples/stream-sum/chunks/",
                "labels": [
                    {"name": "app.gazette.dev/message-type", "value": "stream_sum.Chunk"},
                    {"name": "content-type", "value": "application/x-ndjson"}
                ],
                "fragment": {"length": 4096},
                "children": [
                    {"name": "examples/stream-sum/chunks/part-000"},
                    {"name": "examples/stream-sum/chunks/part-001", "replication": 2, "labels": [{"name": "app", "value": "other"}]}
                ]
            },
            {"name": "examples/stream-sum/old/", "delete": true, "children": [{"name": "examples/stream-sum/old/part-000"}]},
            {"name": "examples/stream-sum/sums", "comment": "the summer's output"}
        ]
    })
}

fn upsert(c: &JournalChange) -> &JournalSpec {
    match c {
        JournalChange::Upsert(spec) => spec,
        other => panic!("expected an upsert, got {other:?}"),
    }
}

#[test]
fn children_inherit_fields_fragment_settings_and_labels() {
    let changes = parse_journal_tree(&stream_sum_tree()).unwrap();
    let names: Vec<&str> = changes.iter().map(JournalChange::name).collect();
    assert_eq!(
        names,
        ["examples/stream-sum/chunks/part-000", "examples/stream-sum/chunks/part-001", "examples/stream-sum/old/part-000", "examples/stream-sum/sums"]
    );
    let part0 = upsert(&changes[0]);
    assert_eq!(part0.replication, 1);
    assert_eq!(part0.fragment.length, 4096, "the nearer parent's fragment length wins");
    assert_eq!(part0.fragment.compression_codec, Codec::Snappy, "fields the child's fragment lacks come from above");
    assert_eq!(part0.fragment.retention, std::time::Duration::from_secs(720 * 3600));
    let chunk_labels = [("app.gazette.dev/message-type", "stream_sum.Chunk"), ("content-type", "application/x-ndjson")];
    assert_eq!(part0.labels, LabelSet::from_pairs([("app", "stream-sum")].into_iter().chain(chunk_labels)));
    let part1 = upsert(&changes[1]);
    assert_eq!(part1.replication, 2);
    assert_eq!(part1.labels, LabelSet::from_pairs([("app", "other")].into_iter().chain(chunk_labels)));
    assert_eq!(changes[2], JournalChange::Delete("examples/stream-sum/old/part-000".into()), "delete covers a directory's journals");
    let sums = upsert(&changes[3]);
    assert_eq!((sums.fragment.length, sums.labels.clone()), (1048576, LabelSet::from_pairs([("app", "stream-sum")])));
}

#[test]
fn a_flat_list_of_specs_still_applies() {
    let doc = json!([{"name": "a/journal-1", "replication": 1}, {"name": "a/journal-2", "delete": true}]);
    let changes = parse_journal_tree(&doc).unwrap();
    assert_eq!(upsert(&changes[0]).name, "a/journal-1");
    assert_eq!(changes[1], JournalChange::Delete("a/journal-2".into()));
}

#[test]
fn bad_trees_are_refused_naming_the_node() {
    let cases = [
        ("no name", json!({"children": []}), "the root node: `name:` is required"),
        ("a directory without children", json!({"name": "a/"}), "a/: a directory node (name ending in '/') needs"),
        ("a journal with children", json!({"name": "a/b/c", "children": [{"name": "a/b/c/d"}]}), "a/b/c: a journal (name not ending in '/') cannot have children"),
        ("a child outside its parent", json!({"name": "a/", "children": [{"name": "b/journal"}]}), "a/ > b/journal: a child's name must extend its parent's (\"a/\")"),
        ("an unknown field", json!({"name": "a/", "children": [{"name": "a/journal", "replicas": 3}]}), "a/ > a/journal: unknown field `replicas`"),
        ("an invalid spec", json!({"name": "a/", "replication": 9, "children": [{"name": "a/journal"}]}), "a/ > a/journal: "),
        ("a duplicate", json!({"name": "a/", "children": [{"name": "a/journal"}, {"name": "a/journal"}]}), "journal \"a/journal\" is given twice"),
        ("a bad delete", json!({"name": "a/", "delete": 1, "children": [{"name": "a/journal"}]}), "a/: `delete:` must be true or false"),
        ("a scalar", json!("a/journal"), "expected a journal tree"),
        ("an empty list", json!([]), "no journals"),
    ];
    for (name, doc, want) in cases {
        let err = parse_journal_tree(&doc).expect_err(name);
        assert!(err.contains(want), "{name}: {err:?} does not contain {want:?}");
    }
}
