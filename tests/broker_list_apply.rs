//! List (unary and watch), Apply and validation over real gRPC.

mod broker_support;

use std::time::Duration;

use broker_support::*;
use streamsum_host::journal::selector::parse_selector;
use streamsum_host::journal::{ApplyChange, JournalClient, JournalError, LabelSelector};
use streamsum_host::service::proto;
use streamsum_host::service::LIST_PAGE;

fn names(js: &[streamsum_host::journal::JournalInfo]) -> Vec<String> {
    js.iter().map(|j| j.spec.name.clone()).collect()
}

#[tokio::test]
async fn first_start_creates_the_stream_sum_journals_and_selectors_work_like_gazettes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 8).await;
    let client = grpc(&broker);
    let all = client.list(LabelSelector::default()).await.unwrap();
    assert_eq!(all.len(), 17);
    let cases = [
        ("app.gazette.dev/message-type=stream_sum.Chunk", 8, "examples/stream-sum/chunks/part-000"),
        ("app.gazette.dev/message-type=stream_sum.Sum", 1, "examples/stream-sum/sums"),
        ("content-type=application/x-gazette-recoverylog", 8, "examples/stream-sum/recovery-logs/chunks-part-000"),
        ("name=examples/stream-sum/sums", 1, "examples/stream-sum/sums"),
        ("prefix=examples/stream-sum/recovery-logs/", 8, "examples/stream-sum/recovery-logs/chunks-part-000"),
        ("name:prefix=examples/stream-sum/chunks/part-00", 8, "examples/stream-sum/chunks/part-000"),
        ("content-type, !app.gazette.dev/message-type", 8, "examples/stream-sum/recovery-logs/chunks-part-000"),
        ("app.gazette.dev/message-type in (stream_sum.Sum, stream_sum.Chunk)", 9, "examples/stream-sum/chunks/part-000"),
        ("app.gazette.dev/message-type notin (stream_sum.Chunk)", 9, "examples/stream-sum/recovery-logs/chunks-part-000"),
    ];
    for (sel, count, first) in cases {
        let got = client.list(parse_selector(sel).unwrap()).await.unwrap();
        assert_eq!(got.len(), count, "{sel}: {:?}", names(&got));
        assert_eq!(got[0].spec.name, first, "{sel}: ordered by name");
    }
    // Restarting does not re-create or change anything.
    let rev = broker.storage().revision();
    broker.shutdown().await.unwrap();
    let broker = start(dir.path(), 8).await;
    assert_eq!(broker.storage().revision(), rev);
    assert_eq!(grpc(&broker).list(LabelSelector::default()).await.unwrap().len(), 17);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_responses_satisfy_the_go_clients_validation_and_page_by_25() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 30).await; // 30 + 1 + 30 journals
    let mut stub = stub(&broker).await;
    let mut stream = stub.list(proto::ListRequest::default()).await.unwrap().into_inner();
    let mut frames = Vec::new();
    while let Some(f) = stream.message().await.unwrap() {
        frames.push(f);
    }
    assert_eq!(frames.len(), 3, "61 journals in pages of {LIST_PAGE}");
    assert_eq!(frames.iter().map(|f| f.journals.len()).collect::<Vec<_>>(), vec![25, 25, 11]);
    let header = frames[0].header.clone().unwrap();
    let etcd = header.etcd.unwrap();
    assert!(etcd.cluster_id != 0 && etcd.member_id != 0 && etcd.raft_term != 0 && etcd.revision > 0);
    let route = header.route.unwrap();
    assert_eq!((route.members.len(), route.primary, route.endpoints), (1, 0, vec![broker.url()]));
    assert!(frames[1].header.is_none() && frames[2].header.is_none());
    for j in frames.iter().flat_map(|f| &f.journals) {
        assert!(j.mod_revision > 0 && j.create_revision > 0);
        let spec = j.spec.as_ref().unwrap();
        let frag = spec.fragment.as_ref().unwrap();
        assert!(spec.replication >= 1 && frag.compression_codec != 0 && frag.length >= 1024);
        assert!(frag.refresh_interval.unwrap().seconds >= 1);
        assert_eq!(j.route.as_ref().unwrap().primary, 0);
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_list_watch_delivers_a_new_snapshot_after_apply() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 2).await;
    let mut stub = stub(&broker).await;
    let selector = proto::LabelSelector {
        include: Some(proto::LabelSet { labels: vec![proto::Label { name: "prefix".into(), value: "tests/".into(), prefix: false }] }),
        exclude: None,
    };
    let req = proto::ListRequest { selector: Some(selector), watch: true, watch_resume: None };
    let mut stream = stub.list(req).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(first.journals.is_empty());
    let rev1 = first.header.unwrap().etcd.unwrap().revision;
    assert_eq!(stream.message().await.unwrap().unwrap(), proto::ListResponse::default(), "end-of-snapshot marker");

    let client = grpc(&broker);
    // A change outside the selection sends nothing; one inside sends a snapshot.
    client.apply(vec![ApplyChange::Upsert { spec: spec("other/journal"), expect_mod_revision: 0 }]).await.unwrap();
    client.apply(vec![ApplyChange::Upsert { spec: spec("tests/new-one"), expect_mod_revision: 0 }]).await.unwrap();
    let snap = stream.message().await.unwrap().unwrap();
    let rev2 = snap.header.unwrap().etcd.unwrap().revision;
    assert!(rev2 > rev1 + 1, "strictly greater revision ({rev1} → {rev2})");
    assert_eq!(snap.journals.len(), 1);
    assert_eq!(snap.journals[0].spec.as_ref().unwrap().name, "tests/new-one");
    assert_eq!(snap.journals[0].mod_revision, rev2);
    assert_eq!(stream.message().await.unwrap().unwrap(), proto::ListResponse::default());

    // A reader blocked on the journal learns of its deletion as JOURNAL_NOT_FOUND.
    let read = proto::ReadRequest { journal: "tests/new-one".into(), offset: 0, block: true, ..Default::default() };
    let mut blocked = stub.read(read).await.unwrap().into_inner();
    assert!(tokio::time::timeout(Duration::from_millis(100), blocked.message()).await.is_err(), "blocked");

    // Deletion also produces a snapshot, now empty.
    client.apply(vec![ApplyChange::Delete { journal: "tests/new-one".into(), expect_mod_revision: rev2 }]).await.unwrap();
    let snap = stream.message().await.unwrap().unwrap();
    assert!(snap.journals.is_empty());
    assert!(snap.header.unwrap().etcd.unwrap().revision > rev2);
    let gone = blocked.message().await.unwrap().unwrap();
    assert_eq!(gone.status, proto::Status::JournalNotFound as i32);

    // Shutdown ends the watch rather than hanging the server.
    let shut = tokio::time::timeout(Duration::from_secs(10), broker.shutdown()).await;
    shut.expect("shutdown with an open watch completes").unwrap();
}

#[tokio::test]
async fn apply_checks_revisions_and_specs_persist_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 0).await;
    let client = grpc(&broker);
    let mut s = spec("tests/persisted");
    s.fragment.length = 4096;
    let rev = client.apply(vec![ApplyChange::Upsert { spec: s.clone(), expect_mod_revision: 0 }]).await.unwrap();
    // Creating it again, or updating at a stale revision, fails the transaction.
    for expect in [0, rev - 1] {
        let err = client.apply(vec![ApplyChange::Upsert { spec: s.clone(), expect_mod_revision: expect }]).await.unwrap_err();
        assert!(matches!(err, JournalError::EtcdTransactionFailed(_)), "{err:?}");
    }
    s.labels = s.labels.union(&streamsum_host::journal::LabelSet::from_pairs([("app.gazette.dev/tag", "v2")]));
    let rev2 = client.apply(vec![ApplyChange::Upsert { spec: s.clone(), expect_mod_revision: rev }]).await.unwrap();
    assert!(rev2 > rev);
    broker.shutdown().await.unwrap();

    let broker = start(dir.path(), 0).await;
    let listed = grpc(&broker).list(parse_selector("name=tests/persisted").unwrap()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spec, s);
    assert_eq!((listed[0].create_revision, listed[0].mod_revision), (rev, rev2));
    let rev3 = grpc(&broker).apply(vec![ApplyChange::Upsert { spec: spec("tests/after-restart"), expect_mod_revision: 0 }]).await.unwrap();
    assert!(rev3 > rev2, "revisions keep increasing across restarts");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_names_labels_and_selectors_are_refused_with_a_clear_status() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 0).await;
    let mut stub = stub(&broker).await;
    let label = |n: &str, v: &str| proto::Label { name: n.into(), value: v.into(), prefix: false };
    let good = streamsum_host::service::convert::spec_out(&spec("tests/good-name"));
    let mut bad_specs = Vec::new();
    for (name, want) in [("ab", "length 2"), ("/abs", "clean relative path"), ("a b/c", "invalid character"), ("a//b", "clean relative path")] {
        bad_specs.push((proto::JournalSpec { name: name.into(), ..good.clone() }, want));
    }
    let mut unsorted = good.clone();
    unsorted.labels = Some(proto::LabelSet { labels: vec![label("zz", "1"), label("aa", "1")] });
    bad_specs.push((unsorted, "not sorted"));
    let mut bad_label = good.clone();
    bad_label.labels = Some(proto::LabelSet { labels: vec![label("x", "1")] });
    bad_specs.push((bad_label, "label name \"x\""));
    let mut no_codec = good.clone();
    no_codec.fragment.as_mut().unwrap().compression_codec = 0;
    bad_specs.push((no_codec, "compression codec"));
    for (spec, want) in bad_specs {
        let change = proto::apply_request::Change { expect_mod_revision: 0, upsert: Some(spec), delete: String::new() };
        let err = stub.apply(proto::ApplyRequest { changes: vec![change] }).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains(want), "want {want:?} in {:?}", err.message());
    }
    let both = proto::apply_request::Change { expect_mod_revision: 0, upsert: Some(good.clone()), delete: "tests/good-name".into() };
    let err = stub.apply(proto::ApplyRequest { changes: vec![both] }).await.unwrap_err();
    assert!(err.message().contains("exactly one of upsert or delete"), "{}", err.message());

    for (sel, want) in [
        (proto::LabelSet { labels: vec![label("prefix", "no-slash")] }, "must end in '/'"),
        (proto::LabelSet { labels: vec![label("bad name", "")] }, "invalid character"),
    ] {
        let req = proto::ListRequest { selector: Some(proto::LabelSelector { include: Some(sel), exclude: None }), ..Default::default() };
        let err = stub.list(req).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains(want), "{}", err.message());
    }
    let read = |journal: &str, offset| proto::ReadRequest { journal: journal.into(), offset, ..Default::default() };
    let mut s = stub.read(read("tests/missing", 0)).await.unwrap().into_inner();
    let f = s.message().await.unwrap().unwrap();
    assert_eq!(f.status, proto::Status::JournalNotFound as i32);
    assert!(f.header.is_some());
    assert!(s.message().await.unwrap().is_none());
    let mut s = stub.read(read("tests/good-name", 0)).await.unwrap().into_inner();
    assert_eq!(s.message().await.unwrap().unwrap().status, proto::Status::JournalNotFound as i32);

    grpc(&broker).apply(vec![ApplyChange::Upsert { spec: spec("tests/good-name"), expect_mod_revision: 0 }]).await.unwrap();
    let err = stub.read(read("tests/good-name", -5)).await.unwrap_err();
    assert!(err.message().contains("invalid read offset -5"), "{}", err.message());
    // An offset past the head of a non-blocking read is not yet available.
    let mut s = stub.read(read("tests/good-name", 1000)).await.unwrap().into_inner();
    let f = s.message().await.unwrap().unwrap();
    assert_eq!((f.status, f.offset, f.write_head), (proto::Status::OffsetNotYetAvailable as i32, 1000, 0));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_fragments_store_health_and_replicate_answer_minimally() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 0).await;
    let client = grpc(&broker);
    let mut s = spec("tests/fragments");
    s.fragment.length = 1024;
    client.apply(vec![ApplyChange::Upsert { spec: s, expect_mod_revision: 0 }]).await.unwrap();
    for _ in 0..3 {
        client.append(streamsum_host::journal::AppendRequest::new("tests/fragments", vec![b'f'; 1500])).await.unwrap();
    }
    let mut stub = stub(&broker).await;
    let req = |token, limit| proto::FragmentsRequest { journal: "tests/fragments".into(), next_page_token: token, page_limit: limit, ..Default::default() };
    let all = stub.list_fragments(req(0, 0)).await.unwrap().into_inner();
    let spans: Vec<(i64, i64)> = all.fragments.iter().map(|f| { let s = f.spec.as_ref().unwrap(); (s.begin, s.end) }).collect();
    assert_eq!(spans, vec![(0, 1500), (1500, 3000), (3000, 4500)]);
    assert!(all.fragments.iter().all(|f| f.spec.as_ref().unwrap().compression_codec == proto::CompressionCodec::None as i32));
    assert_eq!(all.next_page_token, 0);
    let page = stub.list_fragments(req(0, 2)).await.unwrap().into_inner();
    assert_eq!((page.fragments.len(), page.next_page_token), (2, 3000));
    let rest = stub.list_fragments(req(3000, 2)).await.unwrap().into_inner();
    assert_eq!((rest.fragments.len(), rest.next_page_token), (1, 0));
    let missing = proto::FragmentsRequest { journal: "tests/none".into(), ..Default::default() };
    assert_eq!(stub.list_fragments(missing).await.unwrap().into_inner().status, proto::Status::JournalNotFound as i32);

    let health = stub.fragment_store_health(proto::FragmentStoreHealthRequest::default()).await.unwrap().into_inner();
    assert_eq!(health.status, 0);
    assert!(health.header.is_some());
    // A named store must answer: a directory does; an S3 endpoint nobody serves does not.
    let store_dir = tempfile::tempdir().unwrap();
    let health_of = |url: String| proto::FragmentStoreHealthRequest { fragment_store: url, ..Default::default() };
    let ok = stub.fragment_store_health(health_of(format!("file://{}/", store_dir.path().display()))).await.unwrap().into_inner();
    assert_eq!((ok.status, ok.store_health_error.as_str()), (0, ""));
    let dead = format!("s3://bucket/p/?endpoint=http://{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let bad = stub.fragment_store_health(health_of(dead.clone())).await.unwrap().into_inner();
    assert_eq!(bad.status, proto::Status::FragmentStoreUnhealthy as i32);
    assert!(bad.store_health_error.contains(&dead), "{}", bad.store_health_error);
    let unknown = stub.fragment_store_health(health_of("ftp://x/".into())).await.unwrap().into_inner();
    assert_eq!(unknown.status, proto::Status::FragmentStoreUnhealthy as i32);
    // Replicate is for a cluster's brokers (issue 16): a first frame without the
    // primary's Header is refused, and so is a replica of a journal an embedded broker
    // serves alone.
    let err = stub.replicate(futures::stream::iter(vec![proto::ReplicateRequest::default()])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("Header"), "{err:?}");
    let lone = proto::Route { members: vec![proto::process_spec::Id { zone: "local".into(), suffix: "streamsum-broker".into() }], primary: 0, endpoints: vec![broker.url()] };
    let first = proto::ReplicateRequest {
        header: Some(proto::Header { route: Some(lone), ..Default::default() }),
        proposal: Some(proto::Fragment { journal: "tests/fragments".into(), ..Default::default() }),
        acknowledge: true,
        ..Default::default()
    };
    let err = stub.replicate(futures::stream::iter(vec![first])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(err.message().contains("\"tests/fragments\" is not replicated"), "{err:?}");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn journal_clients_watch_the_matched_set_locally_and_over_grpc() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 2).await;
    let local: Box<dyn JournalClient> = Box::new(broker.client());
    let remote: Box<dyn JournalClient> = Box::new(grpc(&broker));
    let selector = parse_selector("app.gazette.dev/message-type=stream_sum.Chunk").unwrap();
    let mut watches = vec![local.watch(selector.clone()), remote.watch(selector)];
    for w in watches.iter_mut() {
        let first = w.next().await.unwrap().unwrap();
        assert_eq!(names(&first), ["examples/stream-sum/chunks/part-000", "examples/stream-sum/chunks/part-001"]);
    }
    let mut s = spec("examples/stream-sum/chunks/part-002");
    s.labels = streamsum_host::journal::LabelSet::from_pairs([
        ("app.gazette.dev/message-type", "stream_sum.Chunk"),
        ("content-type", "application/x-ndjson"),
    ]);
    local.apply(vec![ApplyChange::Upsert { spec: s, expect_mod_revision: 0 }]).await.unwrap();
    local.append(streamsum_host::journal::AppendRequest::new("examples/stream-sum/chunks/part-002", "abc")).await.unwrap();
    for w in watches.iter_mut() {
        let next = w.next().await.unwrap().unwrap();
        assert_eq!(next.len(), 3);
        assert_eq!(next[2].spec.name, "examples/stream-sum/chunks/part-002");
    }
    drop(watches);
    broker.shutdown().await.unwrap();
}
