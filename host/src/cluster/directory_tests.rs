//! The etcd directory against a real etcd: Apply is all or nothing under expected
//! revisions, List shows routes and statuses from assignments, Unassign removes them.

use std::time::Duration;

use streamsum_cluster::testing::EtcdServer;

use super::*;
use crate::cluster::ClusterArgs;
use crate::consumer::shardspace::Source;
use crate::consumer::DeclaredShard;
use crate::journal::ProcessId;

fn shard(id: &str) -> DeclaredShard {
    DeclaredShard {
        id: id.into(),
        sources: vec![Source { journal: format!("chunks/{id}"), min_offset: 0 }],
        recovery_log_prefix: "logs".into(),
        max_txn_duration: Duration::from_secs(1),
        ..DeclaredShard::default()
    }
}

fn args(etcd: &EtcdServer, id: &str) -> ClusterArgs {
    ClusterArgs {
        etcd: Some(etcd.endpoint()),
        etcd_prefix: Some("/test/consumers".into()),
        etcd_lease: Duration::from_secs(2),
        zone: "z".into(),
        id: Some(id.into()),
    }
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_list_and_unassign_through_etcd() {
    let etcd = EtcdServer::start().await.expect("starting etcd");
    let member = ShardMember::join(&args(&etcd, "h1"), "http://h1:1", 8, 0).await.unwrap();
    let dir = EtcdDirectory::new(member.clone());

    let rev = dir.apply(vec![(0, ShardChange::Upsert(shard("shard-1"))), (0, ShardChange::Upsert(shard("shard-2")))]).await.unwrap();
    let (listed_at, all) = dir.list().await.unwrap();
    assert!(listed_at >= rev);
    assert_eq!(all.iter().map(|s| s.spec.id.as_str()).collect::<Vec<_>>(), ["shard-1", "shard-2"]);
    let s1_rev = all[0].mod_revision;
    assert_eq!(s1_rev, rev, "both changes landed in one transaction");

    // Creating again, or updating at a stale revision, changes nothing at all.
    let again = dir.apply(vec![(s1_rev, ShardChange::Upsert(shard("shard-1"))), (0, ShardChange::Upsert(shard("shard-2")))]).await;
    assert!(matches!(again, Err(DirectoryError::RevisionMismatch(_))), "{again:?}");
    assert_eq!(dir.list().await.unwrap().1[0].mod_revision, s1_rev, "shard-1 was not updated either");
    let no_rev = dir.apply(vec![(0, ShardChange::Delete("shard-2".into()))]).await;
    assert!(matches!(no_rev, Err(DirectoryError::Invalid(m)) if m.contains("shard-2")), "a delete names its revision");
    let bad = dir.apply(vec![(0, ShardChange::Upsert(DeclaredShard { recovery_log_prefix: String::new(), ..shard("shard-3") }))]).await;
    assert!(matches!(bad, Err(DirectoryError::Invalid(m)) if m.contains("shard-3")), "an invalid spec is refused by name");

    // The only member is assigned both (no standbys); with no shard running here to
    // write their status, the assignments read IDLE.
    let routed = within("both shards assigned", member.keyspace().wait_until(|s| listed(member.root(), s).iter().all(|l| l.route.primary.is_some()))).await;
    let shards = listed(member.root(), &routed);
    for s in &shards {
        assert_eq!(s.route.members, vec![ProcessId::new("z", "h1")], "{}", s.spec.id);
        assert_eq!(s.route.endpoints, vec!["http://h1:1".to_string()]);
        assert_eq!(s.status.iter().map(|r| r.code).collect::<Vec<_>>(), [ReplicaCode::Idle]);
    }
    // The member follows its assignments (its follower task sees the same revision).
    let mut assigned = crate::consumer::ShardAssignments::watch(&*member);
    within("the member to follow its assignments", assigned.wait_for(|specs| specs.len() == 2)).await.unwrap();

    // Unassign of only FAILED replicas removes nothing here; a plain one removes shard-1's.
    assert_eq!(dir.unassign(vec!["shard-1".into()], true, false).await.unwrap(), Vec::<String>::new());
    assert_eq!(dir.unassign(vec!["shard-1".into()], false, true).await.unwrap(), ["shard-1"], "a dry run names it");
    assert_eq!(dir.unassign(vec!["shard-1".into()], false, false).await.unwrap(), ["shard-1"]);
    assert!(matches!(dir.unassign(vec!["nope".into()], false, false).await, Err(DirectoryError::NotFound(id)) if id == "nope"));

    let (_, now) = dir.list().await.unwrap();
    let s2 = now.iter().find(|s| s.spec.id == "shard-2").unwrap();
    let del = dir.apply(vec![(s2.mod_revision, ShardChange::Delete("shard-2".into()))]).await.unwrap();
    assert!(del > s2.mod_revision);
    assert_eq!(dir.list().await.unwrap().1.iter().map(|s| s.spec.id.as_str()).collect::<Vec<_>>(), ["shard-1"]);
    member.leave().await;
}
