//! The `Shard` service over real gRPC with the client generated from
//! `consumer.proto` (Gazette's field numbers): List filters by selector, Apply maps
//! revision mismatches to Gazette's status, Stat answers only at the primary and
//! waits for the offsets asked for, GetHints names the recovery log.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio_stream::wrappers::TcpListenerStream;

use super::*;
use crate::consumer::directory::{ReplicaCode, ReplicaReport};
use crate::consumer::ShardStatus;
use crate::journal::LabelSet;

/// A directory from a table; Apply records what it was given.
struct Table {
    shards: Vec<ListedShard>,
    applied: Mutex<Vec<(i64, ShardChange)>>,
}

impl ShardDirectory for Table {
    fn list(&self) -> BoxFuture<'static, Result<(i64, Vec<ListedShard>), DirectoryError>> {
        let shards = self.shards.clone();
        Box::pin(async move { Ok((7, shards)) })
    }

    fn apply(&self, changes: Vec<(i64, ShardChange)>) -> BoxFuture<'static, Result<i64, DirectoryError>> {
        let stale = changes.iter().any(|(rev, _)| *rev == 99);
        self.applied.lock().unwrap().extend(changes);
        Box::pin(async move {
            if stale {
                Err(DirectoryError::RevisionMismatch("revision 99 is stale".into()))
            } else {
                Ok(8)
            }
        })
    }

    fn unassign(&self, shards: Vec<String>, _: bool, dry_run: bool) -> BoxFuture<'static, Result<Vec<String>, DirectoryError>> {
        Box::pin(async move {
            match shards.first() {
                Some(id) if id == "missing" => Err(DirectoryError::NotFound(id.clone())),
                _ if dry_run => Ok(shards),
                _ => Ok(Vec::new()),
            }
        })
    }
}

fn id(suffix: &str) -> ProcessId {
    ProcessId::new("z", suffix)
}

fn declared(shard: &str, labels: &[(&str, &str)]) -> DeclaredShard {
    DeclaredShard {
        id: shard.into(),
        sources: vec![Source { journal: format!("a/{shard}"), min_offset: 0 }],
        recovery_log_prefix: "a/logs".into(),
        max_txn_duration: Duration::from_secs(1),
        labels: LabelSet::from_pairs(labels.iter().copied()),
        ..Default::default()
    }
}

fn listed(spec: DeclaredShard, primary: &str) -> ListedShard {
    ListedShard {
        spec,
        mod_revision: 5,
        create_revision: 3,
        route: Route { members: vec![id(primary)], primary: Some(0), endpoints: vec![format!("http://{primary}")] },
        status: vec![ReplicaReport { code: ReplicaCode::Primary, errors: Vec::new() }],
    }
}

async fn serve() -> (ShardClient<tonic::transport::Channel>, Arc<Table>, Arc<ShardStatus>) {
    let table = Arc::new(Table {
        shards: vec![
            listed(declared("shard-here", &[("store", "rocksdb")]), "me"),
            listed(declared("shard-there", &[("store", "sqlite")]), "other"),
        ],
        applied: Mutex::new(Vec::new()),
    });
    let status = Arc::new(ShardStatus::new("shard-here"));
    let running: ShardList = Arc::new(std::sync::RwLock::new(vec![status.clone()]));
    let api = ShardApi::new(table.clone(), running, id("me"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tonic::transport::Server::builder().add_service(api.into_server()).serve_with_incoming(TcpListenerStream::new(listener)));
    let client = ShardClient::connect(format!("http://{addr}")).await.unwrap();
    (client, table, status)
}

#[tokio::test]
async fn list_gives_specs_routes_and_statuses_filtered_by_selector() {
    let (mut client, _, _) = serve().await;
    let all = client.list(pc::ListRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.status, pc::Status::Ok as i32);
    assert_eq!(all.header.unwrap().etcd.unwrap().revision, 7);
    let here = &all.shards[0];
    let spec = shard_spec_in(here.spec.clone().unwrap()).unwrap();
    assert_eq!(spec, declared("shard-here", &[("store", "rocksdb")]), "a spec survives the wire");
    assert_eq!((here.mod_revision, here.create_revision), (5, 3));
    assert_eq!(here.route.as_ref().unwrap().members[0].suffix, "me");
    assert_eq!(here.status[0].code, pc::replica_status::Code::Primary as i32);

    let by_label = |name: &str, value: &str| pc::ListRequest {
        selector: Some(super::super::convert::selector_out(&crate::journal::LabelSelector::including(LabelSet::from_pairs([(name, value)])))),
        ..Default::default()
    };
    let ids = |r: pc::ListResponse| r.shards.into_iter().map(|s| s.spec.unwrap().id).collect::<Vec<_>>();
    assert_eq!(ids(client.list(by_label("store", "sqlite")).await.unwrap().into_inner()), ["shard-there"]);
    assert_eq!(ids(client.list(by_label("id", "shard-here")).await.unwrap().into_inner()), ["shard-here"], "shards match on their id");
}

#[tokio::test]
async fn apply_passes_changes_and_answers_gazettes_status() {
    let (mut client, table, _) = serve().await;
    let change = |rev: i64, spec: Option<pc::ShardSpec>, delete: &str| pc::apply_request::Change {
        expect_mod_revision: rev,
        upsert: spec,
        delete: delete.into(),
        primary_hints: None,
    };
    let spec = shard_spec_out(&declared("shard-new", &[]));
    let ok = client.apply(pc::ApplyRequest { changes: vec![change(0, Some(spec.clone()), ""), change(5, None, "shard-there")], ..Default::default() });
    let ok = ok.await.unwrap().into_inner();
    assert_eq!((ok.status, ok.header.unwrap().etcd.unwrap().revision), (pc::Status::Ok as i32, 8));
    let applied = table.applied.lock().unwrap().clone();
    assert_eq!(applied, vec![(0, ShardChange::Upsert(declared("shard-new", &[]))), (5, ShardChange::Delete("shard-there".into()))]);

    let stale = client.apply(pc::ApplyRequest { changes: vec![change(99, Some(spec.clone()), "")], ..Default::default() });
    assert_eq!(stale.await.unwrap().into_inner().status, pc::Status::EtcdTransactionFailed as i32);

    let mut bad = spec.clone();
    bad.sources.clear();
    let refused = client.apply(pc::ApplyRequest { changes: vec![change(0, Some(bad), "")], ..Default::default() }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("changes[0]: shard \"shard-new\": sources"), "{}", refused.message());
    let both = client.apply(pc::ApplyRequest { changes: vec![change(0, Some(spec), "x")], ..Default::default() }).await.unwrap_err();
    assert!(both.message().contains("exactly one of upsert and delete"), "{}", both.message());
}

#[tokio::test]
async fn stat_answers_at_the_primary_once_it_has_read_through() {
    let (mut client, _, status) = serve().await;
    let stat = |shard: &str, through: i64| pc::StatRequest {
        shard: shard.into(),
        read_through: HashMap::from([("a/shard-here".to_string(), through)]),
        ..Default::default()
    };
    let elsewhere = client.stat(pc::StatRequest { shard: "shard-there".into(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(elsewhere.status, pc::Status::NotShardPrimary as i32);
    assert_eq!(elsewhere.header.unwrap().route.unwrap().endpoints, ["http://other"], "the route says where to ask");
    let missing = client.stat(pc::StatRequest { shard: "no-such".into(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(missing.status, pc::Status::ShardNotFound as i32);

    // Asked to read through 500, the primary answers once a commit gets there.
    let mut waiting = client.clone();
    let pending = tokio::spawn(async move { waiting.stat(stat("shard-here", 500)).await.unwrap().into_inner() });
    status.committed(1, 200);
    assert!(!pending.is_finished());
    status.committed(1, 640);
    let done = pending.await.unwrap();
    assert_eq!((done.status, done.read_through.get("a/shard-here").copied()), (pc::Status::Ok as i32, Some(640)));

    let wrong = client.stat(pc::StatRequest { shard: "shard-here".into(), read_through: HashMap::from([("a/other".into(), 1)]), ..Default::default() });
    assert!(wrong.await.unwrap_err().message().contains("does not read journal \"a/other\""));
}

#[tokio::test]
async fn hints_name_the_recovery_log_and_unassign_reports_shards() {
    let (mut client, _, _) = serve().await;
    let hints = client.get_hints(pc::GetHintsRequest { shard: "shard-there".into(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(hints.primary_hints.unwrap().hints.unwrap().log, "a/logs/shard-there");
    let none = client.get_hints(pc::GetHintsRequest { shard: "nope".into(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(none.status, pc::Status::ShardNotFound as i32);

    let dry = pc::UnassignRequest { shards: vec!["shard-here".into()], only_failed: false, dry_run: true };
    assert_eq!(client.unassign(dry).await.unwrap().into_inner().shards, ["shard-here"]);
    let missing = pc::UnassignRequest { shards: vec!["missing".into()], ..Default::default() };
    assert_eq!(client.unassign(missing).await.unwrap().into_inner().status, pc::Status::ShardNotFound as i32);
}
