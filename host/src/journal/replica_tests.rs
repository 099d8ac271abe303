//! Tests of `replica.rs`: a primary's writes proposed to replicas in other storages,
//! byte for byte; mismatches that change nothing; a replica ahead of a new primary
//! cut back; a divergent one wiped and filled in; the read gate.

use super::super::labels::LabelSet;
use super::super::request::AppendRequest;
use super::super::spec::JournalSpec;
use super::super::storage::Storage;
use super::*;

const J: &str = "a/replicated";

/// A storage holding journal J (rolling fragments at `roll_at`), replicated.
fn replicated(dir: &std::path::Path, roll_at: i64) -> (Arc<Storage>, Arc<Journal>) {
    let storage = Storage::open(dir).unwrap();
    let mut spec = JournalSpec { name: J.into(), ..JournalSpec::default() };
    spec.labels = LabelSet::from_pairs([("content-type", "application/octet-stream")]);
    spec.fragment.length = roll_at;
    storage.create_missing(vec![spec]).unwrap();
    let journal = storage.journal(J).unwrap();
    journal.enable_replication().unwrap();
    (storage, journal)
}

fn content(i: usize, n: usize) -> Vec<u8> {
    (0..n).map(|j| (i * 31 + j * 7) as u8).collect()
}

/// The primary writes `bytes` (with `registers` unioned in) and returns its proposal.
fn write(primary: &Arc<Journal>, bytes: &[u8], registers: &[(&str, &str)]) -> Spool {
    let mut req = AppendRequest::new(J, bytes.to_vec());
    req.union_registers = LabelSet::from_pairs(registers.iter().copied());
    primary.write(&req).unwrap().spool.expect("a replicated journal's write has a spool")
}

/// Every local byte of a journal.
fn bytes_of(j: &Journal) -> Vec<u8> {
    let end = j.spool().unwrap().end;
    let low = j.local_low();
    let mut out = Vec::new();
    let mut at = low;
    while at < end {
        let chunk = j.local_bytes(at, end).unwrap();
        at += chunk.len() as i64;
        out.extend_from_slice(&chunk);
    }
    out
}

#[tokio::test]
async fn a_replica_applying_the_primary_s_proposals_holds_its_bytes_exactly() {
    let (pd, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ps, primary) = replicated(pd.path(), 1024);
    let (rs, replica) = replicated(rd.path(), 1 << 20);
    let mut expect = Vec::new();
    for i in 0..7 {
        let c = content(i, 400);
        let regs: &[(&str, &str)] = if i == 3 { &[("owner", "three")] } else { &[] };
        let p = write(&primary, &c, regs);
        expect.extend_from_slice(&c);
        assert_eq!(replica.replicate(&p, &c).await.unwrap(), Reply::Ok, "append {i}");
        assert_eq!(replica.spool().unwrap(), p, "the replica's spool is the proposal after append {i}");
    }
    // The primary rolled at 1024 bytes (three 400-byte appends), and so did the replica.
    assert_eq!(primary.spool().unwrap().begin, 2400);
    assert_eq!(replica.fragments(), primary.fragments(), "the same fragment files");
    assert_eq!(bytes_of(&replica), expect);
    assert_eq!(replica.registers().value_of("owner"), Some("three"));
    // Durable at the replica: it reads them back after a restart.
    rs.shutdown();
    let rs = Storage::open(rd.path()).unwrap();
    let replica = rs.journal(J).unwrap();
    replica.enable_replication().unwrap();
    assert_eq!(bytes_of(&replica), expect);
    assert_eq!(replica.spool().unwrap(), primary.spool().unwrap(), "the spool is recovered from the last fragment file");
    ps.shutdown();
    rs.shutdown();
}

#[tokio::test]
async fn a_proposal_that_does_not_extend_the_spool_is_a_mismatch_and_writes_nothing() {
    let (pd, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ps, primary) = replicated(pd.path(), 1 << 20);
    let (rs, replica) = replicated(rd.path(), 1 << 20);
    let c = content(0, 100);
    let p = write(&primary, &c, &[]);
    assert_eq!(replica.replicate(&p, &c).await.unwrap(), Reply::Ok);
    let before = replica.spool().unwrap();
    let c2 = content(1, 50);
    let p2 = write(&primary, &c2, &[]);
    let mut corrupt = c2.clone();
    corrupt[7] ^= 1;
    let wrong_end = Spool { end: p2.end + 1, ..p2.clone() };
    for (name, p, c) in [("bad sum", &p2, &corrupt), ("bad end", &wrong_end, &c2)] {
        assert_eq!(replica.replicate(p, c).await.unwrap(), Reply::Mismatch(before.clone()), "{name}");
        assert_eq!(replica.spool().unwrap(), before, "{name}: nothing written");
    }
    assert_eq!(replica.replicate(&p2, &c2).await.unwrap(), Reply::Ok, "the right content still applies");
    ps.shutdown();
    rs.shutdown();
}

#[tokio::test]
async fn a_replica_ahead_of_a_new_primary_is_cut_back_to_it() {
    let (ad, bd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let od = tempfile::tempdir().unwrap();
    let (os, old_primary) = replicated(od.path(), 1 << 20);
    let (as_, a) = replicated(ad.path(), 1 << 20);
    let (bs, b) = replicated(bd.path(), 1 << 20);
    let mut acked = Vec::new();
    for i in 0..3 {
        let c = content(i, 300);
        let p = write(&old_primary, &c, &[]);
        assert_eq!(a.replicate(&p, &c).await.unwrap(), Reply::Ok);
        assert_eq!(b.replicate(&p, &c).await.unwrap(), Reply::Ok);
        acked.extend_from_slice(&c);
    }
    // The old primary's last append reached A only, then it died.
    let c = content(9, 300);
    let p = write(&old_primary, &c, &[("owner", "old")]);
    assert_eq!(a.replicate(&p, &c).await.unwrap(), Reply::Ok);
    // B is the new primary and proposes its spool: A holds those bytes, so it takes the
    // spool and drops the unacknowledged tail.
    let proposal = b.spool().unwrap();
    assert_eq!(a.replicate(&proposal, &[]).await.unwrap(), Reply::Ok);
    assert_eq!(a.spool().unwrap(), proposal);
    assert_eq!(bytes_of(&a), acked);
    assert_eq!(a.registers().value_of("owner"), None, "the registers are the new primary's");
    // The cut is durable: after a restart A still ends where B does.
    as_.shutdown();
    let as_ = Storage::open(ad.path()).unwrap();
    let a = as_.journal(J).unwrap();
    a.enable_replication().unwrap();
    assert_eq!(bytes_of(&a), acked);
    // And the journal goes on from there.
    let c = content(4, 10);
    let p = write(&b, &c, &[]);
    assert_eq!(a.replicate(&p, &c).await.unwrap(), Reply::Ok);
    acked.extend_from_slice(&c);
    assert_eq!(bytes_of(&a), acked);
    for s in [os, as_, bs] {
        s.shutdown();
    }
}

#[tokio::test]
async fn a_divergent_replica_is_wiped_to_the_primary_s_low_and_filled_in() {
    let (pd, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ps, primary) = replicated(pd.path(), 1 << 20);
    let (rs, replica) = replicated(rd.path(), 1 << 20);
    // The replica holds bytes of another history (a zombie primary's).
    let zombie = content(5, 250);
    let zp = Spool { begin: 0, end: 250, sum: Sha1::digest(&zombie).into(), registers: LabelSet::default() };
    assert_eq!(replica.replicate(&zp, &zombie).await.unwrap(), Reply::Ok);
    let mine = [content(1, 100), content(2, 200)].concat();
    let p = write(&primary, &mine, &[("owner", "p")]);
    // The proposal does not verify against the replica's bytes.
    let Reply::Mismatch(theirs) = replica.replicate(&p, &[]).await.unwrap() else { panic!("expected a mismatch") };
    assert_eq!(theirs, zp);
    assert_ne!(primary.sum_of(theirs.begin, theirs.end).unwrap(), Some(theirs.sum), "the primary sees the divergence too");
    // Reset at the primary's low (0), then fill in, then roll both at the end.
    let low = Spool::empty(0, LabelSet::default());
    assert_eq!(replica.replicate(&low, &[]).await.unwrap(), Reply::Ok);
    assert_eq!(replica.spool().unwrap().end, 0);
    let chunk = primary.local_bytes(0, p.end).unwrap();
    let fill = Spool { begin: 0, end: p.end, sum: Sha1::digest(&chunk).into(), registers: p.registers.clone() };
    assert_eq!(replica.replicate(&fill, &chunk).await.unwrap(), Reply::Ok);
    let rolled = primary.roll_spool().unwrap();
    assert_eq!(replica.replicate(&rolled, &[]).await.unwrap(), Reply::Ok);
    assert_eq!(replica.spool().unwrap(), primary.spool().unwrap());
    assert_eq!(bytes_of(&replica), mine);
    assert_eq!(replica.registers().value_of("owner"), Some("p"));
    rs.shutdown();
    let rs = Storage::open(rd.path()).unwrap();
    assert_eq!(rs.journal(J).unwrap().head(), 300, "the reset and the fill survive a restart");
    // A replica wholly below the primary's low-water mark (it pruned what the replica
    // lacks) is wiped and starts there.
    let replica = rs.journal(J).unwrap();
    replica.enable_replication().unwrap();
    let far = Spool::empty(10_000, LabelSet::default());
    assert_eq!(replica.replicate(&far, &[]).await.unwrap(), Reply::Ok);
    assert_eq!((replica.local_low(), replica.spool().unwrap().end), (10_000, 10_000));
    rs.shutdown();
    let rs = Storage::open(rd.path()).unwrap();
    assert_eq!((rs.journal(J).unwrap().low(), rs.journal(J).unwrap().head()), (10_000, 10_000), "the wipe survives a restart");
    ps.shutdown();
    rs.shutdown();
}

#[tokio::test]
async fn readers_of_a_replicated_journal_see_only_what_the_gate_lets_through() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, primary) = replicated(dir.path(), 1 << 20);
    let c = content(0, 100);
    let p = write(&primary, &c, &[]);
    primary.wait_synced(p.end).await.unwrap();
    assert_eq!(primary.head(), 0, "durable but not yet on every replica");
    primary.advance_gate(60);
    assert_eq!(primary.head(), 60);
    primary.advance_gate(p.end);
    assert_eq!(primary.head(), 100);
    primary.advance_gate(20);
    assert_eq!(primary.head(), 100, "the gate never goes back");
    // A restarted broker's journal is gated at its low-water mark until it syncs.
    storage.shutdown();
    let storage = Storage::open(dir.path()).unwrap();
    let j = storage.journal(J).unwrap();
    assert_eq!(j.head(), 100, "a journal that is not replicated serves what is durable");
    j.enable_replication().unwrap();
    assert_eq!(j.head(), 0);
    storage.shutdown();
}
