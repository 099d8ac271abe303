use super::*;

fn valid() -> JournalSpec {
    JournalSpec {
        name: "examples/stream-sum/sums".into(),
        labels: LabelSet::from_pairs([("app.gazette.dev/message-type", "stream_sum.Sum"), ("content-type", "application/x-ndjson")]),
        ..JournalSpec::default()
    }
}

#[test]
fn journal_names_follow_gazettes_rules() {
    for ok in ["abcd", "a/b/c/d", "examples/stream-sum/chunks/part-000", "x=y%z.+_-"] {
        assert!(validate_journal_name(ok).is_ok(), "{ok}");
    }
    let long = "a".repeat(513);
    for bad in ["abc", "/abs/name", "trailing/", "a//b", "a/./b", "a/../b", "sp ace", "semi;meta", long.as_str()] {
        assert!(validate_journal_name(bad).is_err(), "{bad}");
    }
    assert!(validate_journal_name(&"a".repeat(512)).is_ok());
}

#[test]
fn specs_are_validated_field_by_field() {
    valid().validate().unwrap();
    let mut cases: Vec<(&str, JournalSpec)> = Vec::new();
    let mut s = valid();
    s.replication = 0;
    cases.push(("replication", s));
    let mut s = valid();
    s.replication = 6;
    cases.push(("replication", s));
    let mut s = valid();
    s.fragment.length = 1023;
    cases.push(("fragment length", s));
    let mut s = valid();
    s.fragment.length = (1 << 34) + 1;
    cases.push(("fragment length", s));
    let mut s = valid();
    s.fragment.refresh_interval = Duration::from_millis(500);
    cases.push(("refresh_interval", s));
    let mut s = valid();
    s.fragment.flush_interval = Duration::from_secs(30);
    cases.push(("flush_interval", s));
    let mut s = valid();
    s.fragment.stores = vec!["ftp://x/".into()];
    cases.push(("fragment store", s));
    let mut s = valid();
    s.flags = 3;
    cases.push(("flags", s));
    let mut s = valid();
    s.labels = LabelSet::from_pairs([("app.gazette.dev/message-type", "X")]);
    cases.push(("requires a content-type", s));
    let mut s = valid();
    s.labels = LabelSet::from_pairs([("content-type", "not-a-mime")]);
    cases.push(("MIME", s));
    let mut s = valid();
    s.labels = LabelSet::from_pairs([("name", "x")]);
    cases.push(("reserved", s));
    let mut s = valid();
    s.labels = LabelSet::from_pairs([("content-type", "a/b"), ("content-type", "c/d")]);
    cases.push(("only one value", s));
    for (want, spec) in cases {
        let e = spec.validate().expect_err(want).to_string();
        assert!(e.contains(want), "expected {want:?} in {e:?}");
        assert!(e.contains("examples/stream-sum/sums"), "names the journal: {e}");
    }
}

#[test]
fn specs_round_trip_through_json_with_go_durations() {
    let s = valid();
    let text = serde_json::to_string(&s).unwrap();
    assert!(text.contains("\"refresh_interval\":\"1m0s\""), "{text}");
    assert_eq!(serde_json::from_str::<JournalSpec>(&text).unwrap(), s);
    let partial: JournalSpec = serde_json::from_str(r#"{"name":"a/b/c/d","fragment":{"length":2048,"compression_codec":"SNAPPY"}}"#).unwrap();
    assert_eq!(partial.fragment.compression_codec, Codec::Snappy);
    assert_eq!(partial.fragment.refresh_interval, Duration::from_secs(60));
    partial.validate().unwrap();
}
