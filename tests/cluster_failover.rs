//! Cluster suite: shard hosts coordinated by a real etcd, as separate processes
//! against one plain broker. Gazette's consumer integration behaviour, end to end:
//!
//! - `kill -9` of a host: once its lease expires its member key and assignments
//!   vanish, each of its primaries is promoted on the host that was its hot standby
//!   (which resumes its tailed store instead of rebuilding it), every shard gets a
//!   standby again, and a chunker running across the kill still verifies every sum
//!   exactly once. The take-over time is printed and written as JSON for the
//!   benchmarks (`$STREAMSUM_TAKEOVER_OUT`, default `<target>/cluster-takeover.json`).
//! - A joining host takes only its share: the allocator moves the fewest shards, all
//!   to it.
//! - A shard moved to another host (rebuilt there from its recovery log) has exactly
//!   the store it had on the host it left, and keeps publishing correct sums.

mod cluster_support;
mod crash_support;
mod support;

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use cluster_support::*;
use streamsum_host::service::control::pb::ShardInfo;

/// The etcd lease of every host here.
const LEASE: &str = "2s";
/// [`LEASE`] in milliseconds, for the JSON figures.
const LEASE_MS: u64 = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_shard_host_moves_its_primaries_to_their_standbys_exactly_once() {
    let cluster = Cluster::start(4).await;
    let mut hosts: BTreeMap<String, ShardHost> =
        ["h1", "h2", "h3"].into_iter().map(|id| (id.to_string(), ShardHost::start(&cluster, id, LEASE, &[]))).collect();
    cluster.apply_shards(&hosts["h1"].endpoint, 4, 1);
    let before = cluster.until("every shard PRIMARY with one STANDBY", DEADLINE, |v| v.all_served(4, 1)).await;

    // The victim: the host with the most primaries (4 shards on 3 hosts: at least 2).
    let victim = ["h1", "h2", "h3"].into_iter().max_by_key(|h| (before.primaries_of(h).len(), std::cmp::Reverse(*h))).unwrap();
    let moving: BTreeMap<String, String> = before.primaries_of(victim).into_iter().map(|s| (s.clone(), before.standbys(&s)[0].to_string())).collect();
    assert!(moving.len() >= 2, "{victim} holds the most primaries, {moving:?}: {before:#?}");
    // Transactions each future primary had committed (none: it stood by).
    let mut baseline = BTreeMap::new();
    for (shard, to) in &moving {
        baseline.insert(shard.clone(), hosts[to].shards().await.get(shard).map_or(0, |s| s.transactions));
    }

    // A job that outlasts the kill, the lease and the take-over whatever the machine's
    // speed: 200 streams of 31 chunks at most 800 chunks/s is about 8 s.
    let mut job = Job::start(&cluster, 100, 30, &["--rate", "800"]);
    let flowing = |shards: &BTreeMap<String, ShardInfo>| moving.keys().all(|s| shards.get(s).is_some_and(|i| i.transactions >= 3));
    hosts[victim].until("the job flowing through every primary about to be killed", DEADLINE, flowing).await;
    assert!(!job.done(), "the chunker finished before the kill: make it longer");

    let killed_at = SystemTime::now();
    let killed = Instant::now();
    hosts.get_mut(victim).unwrap().kill9();
    let gone = cluster.until(&format!("{victim}'s member key to expire"), DEADLINE, |v| !v.members.contains(victim)).await;
    let (expired, expired_at) = (Instant::now(), SystemTime::now());
    // The lease held the member key and every assignment: they vanish in one revision.
    assert!(!gone.holds_any(victim), "{victim}'s assignments outlived its member key: {gone:#?}");
    assert!(!job.done(), "the chunker finished before the take-over: make it longer");

    let first_commit = first_commits(&hosts, &moving, &baseline).await;

    // The standbys were promoted (not some other host), and every shard gets a new
    // standby on the hosts left.
    let promoted = cluster.until("each moved shard PRIMARY on its former standby", DEADLINE, |v| moving.iter().all(|(s, to)| v.primary(s) == Some(to))).await;
    assert!(!promoted.members.contains(victim));
    let healed = cluster.until("every shard PRIMARY with a STANDBY again", DEADLINE, |v| v.all_served(4, 1)).await;
    assert!(!healed.holds_any(victim), "{healed:#?}");
    for (shard, to) in &moving {
        let host = &hosts[to];
        let taking = host.log_lines(&["assigned primary; taking over", &format!("shard={shard} ")]);
        assert_eq!(taking.len(), 1, "{to} should take over {shard} once:\n{}", host.log_text());
        // It resumed the store it had tailed as standby: no rebuild from scratch.
        let played = host.log_lines(&["recovery log played", &format!("shard={shard} ")]);
        assert!(!played.is_empty() && played.iter().all(|l| l.contains("rebuilt=false")), "{to} on {shard}: {played:#?}");
    }

    let streams = job.streams as usize;
    job.succeeds(DEADLINE).await;
    crash_support::assert_exactly_once(&cluster.broker_url, streams).await;

    report_takeover(victim, &moving, &first_commit, (killed_at, killed), (expired_at, expired));
}

/// When each moved shard's new primary (on `moving[shard]`) first committed, as its
/// host reports it (`Control/ListShards`, polled every 5 ms), in Unix milliseconds,
/// and whether that is exact (its first commit) or an upper bound (it had committed
/// more than one transaction when first seen).
async fn first_commits(
    hosts: &BTreeMap<String, ShardHost>,
    moving: &BTreeMap<String, String>,
    baseline: &BTreeMap<String, u64>,
) -> BTreeMap<String, (i64, bool)> {
    let began = Instant::now();
    let mut first: BTreeMap<String, (i64, bool)> = BTreeMap::new();
    while first.len() < moving.len() {
        for (shard, to) in moving.iter() {
            if first.contains_key(shard) {
                continue;
            }
            let base = baseline[shard];
            let info = hosts[to].shards().await.remove(shard).filter(|i| i.transactions > base && i.last_commit_unix_ms > 0);
            if let Some(info) = info {
                first.insert(shard.clone(), (info.last_commit_unix_ms, info.transactions == base + 1));
            }
        }
        assert!(began.elapsed() < DEADLINE, "not every former standby committed as primary within {DEADLINE:?}: {first:?} of {moving:?}");
        // A host's shard status has no push signal: poll.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    first
}

/// Prints the take-over line and writes it as JSON for the benchmarks: from the lease
/// expiry (the killed member's key deleted in etcd) and from the kill, to the first
/// commit of the slowest promoted primary.
fn report_takeover(
    victim: &str,
    moving: &BTreeMap<String, String>,
    first_commit: &BTreeMap<String, (i64, bool)>,
    (killed_at, killed): (SystemTime, Instant),
    (expired_at, expired): (SystemTime, Instant),
) {
    let (kill_ms, expiry_ms) = (unix_ms(killed_at), unix_ms(expired_at));
    let last = first_commit.values().map(|(ms, _)| *ms).max().unwrap();
    let exact = first_commit.values().all(|(_, exact)| *exact);
    let bound = if exact { "" } else { "≤ " };
    println!(
        "takeover after kill -9: lease {LEASE}, lease expiry → first commit {bound}{} ms (kill → first commit {bound}{} ms)",
        last - expiry_ms,
        last - kill_ms
    );
    let shards: Vec<String> = moving
        .iter()
        .map(|(shard, to)| {
            let (ms, exact) = first_commit[shard];
            format!(
                r#"{{"shard":"{shard}","from":"{victim}","to":"{to}","expiry_to_first_commit_ms":{},"kill_to_first_commit_ms":{},"exact":{exact}}}"#,
                ms - expiry_ms,
                ms - kill_ms
            )
        })
        .collect();
    let json = format!(
        r#"{{"figure":"cluster_takeover","how":"kill -9 of a shard host, hot standbys promoted","lease_ms":{LEASE_MS},"kill_to_expiry_ms":{},"expiry_to_first_commit_ms":{},"kill_to_first_commit_ms":{},"exact":{exact},"shards":[{}]}}"#,
        expired.duration_since(killed).as_millis(),
        last - expiry_ms,
        last - kill_ms,
        shards.join(",")
    );
    let out = std::env::var_os("STREAMSUM_TAKEOVER_OUT").map(std::path::PathBuf::from).unwrap_or_else(|| support::target_dir().join("cluster-takeover.json"));
    std::fs::write(&out, format!("{json}\n")).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
    println!("take-over figures written to {}", out.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_host_takes_only_its_share() {
    let cluster = Cluster::start(6).await;
    let h1 = ShardHost::start(&cluster, "h1", LEASE, &[]);
    let h2 = ShardHost::start(&cluster, "h2", LEASE, &[]);
    cluster.apply_shards(&h1.endpoint, 6, 0);
    let before = cluster.until("six shards PRIMARY, three per host", DEADLINE, |v| v.all_served(6, 0)).await;
    for h in ["h1", "h2"] {
        assert_eq!(before.primaries_of(h).len(), 3, "{h}: {before:#?}");
    }
    let before = before.placement();

    let _h3 = ShardHost::start(&cluster, "h3", LEASE, &[]);
    let after = cluster.until("two shards PRIMARY on h3, every shard PRIMARY once", DEADLINE, |v| v.all_served(6, 0) && v.primaries_of("h3").len() == 2).await;
    let moved: BTreeMap<String, (String, String)> =
        after.placement().into_iter().filter(|(s, m)| before[s] != *m).map(|(s, m)| (s.clone(), (before[&s].clone(), m))).collect();
    assert_eq!(moved.len(), 2, "moved: {moved:?}\nbefore: {before:?}\nafter: {after:#?}");
    assert!(moved.values().all(|(_, to)| *to == "h3"), "a shard moved between the first two hosts: {moved:?}");
    assert!(moved.values().filter(|(from, _)| *from == "h1").count() == 1, "h1 and h2 each give one: {moved:?}");

    // What the leader planned for three members: add two assignments (on h3), remove
    // two (where they were), keep four, so the state above was not a step on the way.
    // (Lines start with their time: sorted, the first is the plan made when h3 came.)
    let mut plans: Vec<String> = [&h1, &h2].iter().flat_map(|h| h.log_lines(&["solved for the desired assignments", "members=3 items=6"])).collect();
    plans.sort();
    assert!(plans.first().is_some_and(|l| l.contains("add=2 remove=2 keep=4")), "{plans:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_shard_s_store_is_identical_to_the_original_s() {
    let cluster = Cluster::start(4).await;
    let mut h1 = ShardHost::start(&cluster, "h1", LEASE, &[]);
    let mut h2 = ShardHost::start(&cluster, "h2", LEASE, &[]);
    cluster.apply_shards(&h1.endpoint, 4, 0);
    let placed = cluster.until("four shards PRIMARY on two hosts", DEADLINE, |v| v.all_served(4, 0)).await;
    let moving = placed.primaries_of("h1");
    assert_eq!(moving.len(), 2, "{placed:#?}");

    let first = Job::start(&cluster, 40, 10, &[]);
    let first_streams = first.streams as usize;
    first.succeeds(DEADLINE).await;
    // Idle: every shard has read through its partition's write head.
    let heads = cluster.partition_heads().await;
    for h in [&h1, &h2] {
        let mine = placed.primaries_of(&h.id);
        h.until("its shards reading through their partitions' heads", DEADLINE, |shards| {
            mine.iter().all(|s| shards.get(s).is_some_and(|i| i.read_through == heads[s]))
        })
        .await;
    }

    // A clean stop revokes h1's lease: its shards move to h2 at once, rebuilt there
    // from their recovery logs.
    h1.stop().await;
    let moved = cluster.until("every shard PRIMARY on h2", DEADLINE, |v| v.all_served(4, 0) && v.primaries_of("h2").len() == 4).await;
    assert!(!moved.members.contains("h1"));
    for shard in &moving {
        let played = h2.log_lines(&["recovery log played", &format!("shard={shard} ")]);
        assert!(played.len() == 1 && played[0].contains("rebuilt=true"), "{played:#?}");
    }
    h2.stop().await;
    for shard in &moving {
        let original = crash_support::store_state(&h1.store(shard));
        let rebuilt = crash_support::store_state(&h2.store(shard));
        assert!(original.0.len() >= 10 && original.1.is_some(), "{shard}'s store on h1 holds streams and a checkpoint: {original:?}");
        assert_eq!(rebuilt.0, original.0, "{shard}: the keys and values on h2 are those on h1");
        assert_eq!(rebuilt.1, original.1, "{shard}: the checkpoint on h2 is the one on h1");
    }

    // The moved stores keep summing: new streams, correct and exactly once.
    let h2 = ShardHost::start(&cluster, "h2", LEASE, &[]);
    cluster.until("every shard PRIMARY on h2 again", DEADLINE, |v| v.all_served(4, 0) && v.primaries_of("h2").len() == 4).await;
    for shard in &moving {
        let played = h2.log_lines(&["recovery log played", &format!("shard={shard} ")]);
        assert!(played.len() == 1 && played[0].contains("rebuilt=false"), "h2 resumes the moved store of {shard}: {played:#?}");
    }
    let second = Job::start(&cluster, 20, 5, &[]);
    let second_streams = second.streams as usize;
    second.succeeds(DEADLINE).await;
    // 40 streams over 4 partitions: each moved shard summed some of them.
    let summed = h2.shards().await;
    for shard in &moving {
        assert!(summed[shard].transactions > 0, "{shard} committed nothing after the move: {:?}", summed[shard]);
    }
    crash_support::assert_exactly_once(&cluster.broker_url, first_streams + second_streams).await;
}
