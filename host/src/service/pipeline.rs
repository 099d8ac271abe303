//! The primary's side of replication: one `Replicate` pipeline per journal.
//!
//! Gazette's `broker/pipeline.go` and `append_fsm.go`. The primary of a replicated
//! journal keeps one `Replicate` stream open to every other member of its route. An
//! append is written locally and, in the same order, sent to every replica as content
//! followed by the proposal of the spool it leaves (`journal/replica.rs`); it is
//! acknowledged only once it is durable here and every replica answered OK, which is
//! also when readers may see it (the journal's gate). A stream that fails, or a
//! replica that answers anything but OK, breaks the pipeline: that append and every
//! one queued behind it fail with UNAVAILABLE (clients retry), and the next append
//! builds a new pipeline from the route as it is then.
//!
//! Building a pipeline syncs it. The primary proposes its spool; a replica that
//! answers OK holds the same bytes. One that answers PROPOSAL_MISMATCH is brought in
//! line from the primary's own bytes, which are the journal's history:
//!
//! - a replica whose spool the primary holds too (same span, same SHA-1) is a prefix
//!   of the primary: it is filled in from where it ends;
//! - any other (ahead of the primary with bytes no client was told are committed, or
//!   holding another history) is reset to the primary's low-water mark and filled in
//!   from there.
//!
//! Then, if any replica needed more than OK, every member rolls onto a new empty spool
//! at the primary's end, so all spools are equal, and the gate opens to that end.
//! A route with fewer members than the spec's `replication` takes no appends: they are
//! answered INSUFFICIENT_JOURNAL_BROKERS, which clients retry, so a writer blocks until
//! enough brokers are back, as Gazette's does. Reads go on: the primary's pulse syncs
//! the members there are, and what they all hold is readable.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sha1::{Digest, Sha1};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;

use super::convert::{label_set_in, label_set_out, process_id_out, route_out, sha1_in, sha1_out};
use super::proto;
use super::proto::journal_client::JournalClient as Stub;
use crate::journal::{AppendRequest, AppendResult, Journal, JournalError, JournalRoutes, Route, Spool, Storage};

/// Largest content frame sent to a replica.
const CONTENT_FRAME: usize = 1 << 20;

/// Replication pipelines of the journals this broker is primary of.
pub struct Replicator {
    storage: Arc<Storage>,
    routes: Arc<dyn JournalRoutes>,
    /// Channels to other brokers, by endpoint.
    channels: super::proxy::ProxyPool,
    /// Each journal's pipeline, behind a lock that orders its appends.
    pipelines: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Pipeline>>>>>,
    /// The keyspace revision the routes are at (a cluster's; 1 otherwise), sent in the
    /// header so that a replica first catches up with it.
    revision: Option<tokio::sync::watch::Receiver<i64>>,
}

impl Replicator {
    /// Pipelines for the journals of `storage`, routed by `routes`.
    pub fn new(storage: Arc<Storage>, routes: Arc<dyn JournalRoutes>) -> Arc<Self> {
        Arc::new(Replicator { storage, routes, channels: Default::default(), pipelines: Mutex::default(), revision: None })
    }

    /// As [`Replicator::new`], its routes at the keyspace revision `revision` watches.
    pub fn at_revision(storage: Arc<Storage>, routes: Arc<dyn JournalRoutes>, revision: tokio::sync::watch::Receiver<i64>) -> Arc<Self> {
        Arc::new(Replicator { storage, routes, channels: Default::default(), pipelines: Mutex::default(), revision: Some(revision) })
    }

    /// Appends `req` to replicated `journal`, of which this broker is primary, and
    /// answers once it is durable here and at every replica.
    ///
    /// # Errors
    /// `Status(INSUFFICIENT_JOURNAL_BROKERS)` for a route with fewer members than the
    /// spec's replication; `Unavailable` when a replica fails (the append may or may not
    /// be in the journal: retry it, readers drop duplicates by UUID); the local
    /// journal's errors (register mismatch, wrong offset, …).
    pub async fn append(&self, journal: &Arc<Journal>, req: &AppendRequest) -> Result<AppendResult, JournalError> {
        let sum: [u8; 20] = Sha1::digest(&req.content).into();
        let cell = self.cell(journal.name());
        let replication = journal.spec().spec.replication.max(1) as usize;
        if self.routes.route(journal.name()).members.len() < replication {
            return Err(JournalError::Status { journal: journal.name().to_string(), status: "INSUFFICIENT_JOURNAL_BROKERS".into() });
        }
        let (written, acks) = {
            let mut slot = cell.lock().await;
            let pipeline = self.ready(journal, &mut slot).await?;
            let written = journal.write(req)?;
            let spool = written.spool.clone().expect("a replicated journal's write has a spool");
            let content = req.content.slice(..(written.end - written.begin) as usize);
            let acks: Vec<_> = pipeline.replicas.iter().map(|r| r.commit(&content, &spool)).collect();
            (written, acks)
        };
        for ack in acks {
            ack.await.and_then(|r| r.ok(journal.name()))?;
        }
        journal.wait_synced(written.end).await?;
        journal.advance_gate(written.end);
        journal.wait_head(written.end).await?;
        Ok(AppendResult { journal: journal.name().to_string(), begin: written.begin, end: written.end, sha1: sum, registers: written.registers })
    }

    /// Syncs `journal`'s pipeline with its current route without appending anything
    /// (Gazette's pulse); returns the route synced with. Unlike an append, a pulse
    /// syncs a route with fewer members than the spec's replication: the bytes every
    /// member of the route holds are readable while appends wait for more brokers.
    ///
    /// # Errors
    /// As [`Replicator::append`].
    pub async fn pulse(&self, journal: &str) -> Result<Route, JournalError> {
        let journal = self.storage.journal(journal)?;
        let cell = self.cell(journal.name());
        let mut slot = cell.lock().await;
        let pipeline = self.ready(&journal, &mut slot).await?;
        let route = pipeline.route.clone();
        let spool = journal.spool().ok_or_else(|| not_replicated(journal.name()))?;
        let acks: Vec<_> = pipeline.replicas.iter().map(|r| r.commit(&Bytes::new(), &spool)).collect();
        drop(slot);
        for ack in acks {
            ack.await.and_then(|r| r.ok(journal.name()))?;
        }
        journal.wait_synced(spool.end).await?;
        journal.advance_gate(spool.end);
        Ok(route)
    }

    /// Drops `journal`'s pipeline (this broker is no longer its primary, or it went).
    pub fn forget(&self, journal: &str) {
        self.pipelines.lock().unwrap_or_else(|p| p.into_inner()).remove(journal);
    }

    fn cell(&self, journal: &str) -> Arc<tokio::sync::Mutex<Option<Pipeline>>> {
        let mut map = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(journal.to_string()).or_default().clone()
    }

    /// The journal's pipeline for its current route, built and synced if it has none,
    /// it broke, or the route changed.
    async fn ready<'a>(&self, journal: &Arc<Journal>, slot: &'a mut Option<Pipeline>) -> Result<&'a Pipeline, JournalError> {
        let route = self.routes.route(journal.name());
        let me = self.routes.local();
        if route.primary_member() != Some(me) {
            return Err(JournalError::Status { journal: journal.name().to_string(), status: "NOT_JOURNAL_PRIMARY_BROKER".into() });
        }
        let usable = slot.as_ref().is_some_and(|p| !p.broken() && p.route.equivalent(&route));
        if !usable {
            *slot = None;
            let pipeline = self.build(journal, route).await?;
            *slot = Some(pipeline);
        }
        Ok(slot.as_ref().expect("just built"))
    }

    /// Opens a stream to every replica of `route` and syncs them.
    async fn build(&self, journal: &Arc<Journal>, route: Route) -> Result<Pipeline, JournalError> {
        let name = journal.name();
        let me = self.routes.local().clone();
        let header = proto::Header {
            process_id: Some(process_id_out(&me)),
            route: Some(route_out(&route)),
            etcd: Some(proto::header::Etcd { cluster_id: 1, member_id: 1, revision: self.revision.as_ref().map_or(1, |r| *r.borrow()), raft_term: 1 }),
        };
        // A journal whose stores hold more than this broker does (every broker lost
        // its disk) restarts at their end before anything is synced or appended.
        crate::journal::catch_up(&self.storage, journal).await?;
        let mine = journal.spool().ok_or_else(|| not_replicated(name))?;
        let mut replicas = Vec::new();
        for (i, member) in route.members.iter().enumerate() {
            if *member == me {
                continue;
            }
            let endpoint = route.endpoints.get(i).filter(|e| !e.is_empty()).ok_or_else(|| {
                JournalError::Unavailable(format!("journal {name:?}: replica {}#{} has no endpoint yet", member.zone, member.suffix))
            })?;
            replicas.push(ReplicaStream::open(self.stub(endpoint)?, endpoint, name, header.clone(), &mine).await?);
        }
        // Every replica's answer to the primary's spool.
        let mut rolled = false;
        for replica in &replicas {
            let first = replica.first.clone();
            if first.status == proto::Status::Ok as i32 {
                continue;
            }
            if first.status != proto::Status::ProposalMismatch as i32 {
                return Err(replica_refused(name, &replica.endpoint, &first));
            }
            let theirs = spool_in(name, first.fragment.as_ref(), first.registers)?;
            self.fill(journal, replica, &theirs, &mine).await?;
            rolled = true;
        }
        if rolled {
            let spool = journal.roll_spool().ok_or_else(|| not_replicated(name))?;
            let acks: Vec<_> = replicas.iter().map(|r| r.commit(&Bytes::new(), &spool)).collect();
            for ack in acks {
                ack.await.and_then(|r| r.ok(name))?;
            }
        }
        journal.wait_synced(mine.end).await?;
        journal.advance_gate(mine.end);
        tracing::info!(journal = %name, replicas = replicas.len(), end = mine.end, rolled, "replication pipeline in sync");
        Ok(Pipeline { route, replicas })
    }

    /// Brings a replica whose spool is `theirs` to the primary's spool `mine`.
    async fn fill(&self, journal: &Arc<Journal>, replica: &ReplicaStream, theirs: &Spool, mine: &Spool) -> Result<(), JournalError> {
        let name = journal.name();
        let prefix = theirs.begin < theirs.end
            && theirs.end <= mine.end
            && journal.sum_of(theirs.begin, theirs.end)? == Some(theirs.sum);
        let start = if prefix { theirs.end } else { journal.local_low() };
        if !prefix {
            tracing::warn!(journal = %name, replica = %replica.endpoint, their_begin = theirs.begin, their_end = theirs.end, start, "replica disagrees with the primary: resetting it and filling it in");
        }
        replica.commit(&Bytes::new(), &Spool::empty(start, mine.registers.clone())).await.and_then(|r| r.ok(name))?;
        let mut hasher = Sha1::new();
        let mut at = start;
        while at < mine.end {
            let chunk = journal.local_bytes(at, mine.end)?;
            hasher.update(&chunk);
            at += chunk.len() as i64;
            let spool = Spool { begin: start, end: at, sum: hasher.clone().finalize().into(), registers: mine.registers.clone() };
            replica.commit(&chunk, &spool).await.and_then(|r| r.ok(name))?;
        }
        tracing::info!(journal = %name, replica = %replica.endpoint, from = start, to = mine.end, "filled in a replica");
        Ok(())
    }

    fn stub(&self, endpoint: &str) -> Result<Stub<Channel>, JournalError> {
        self.channels.stub(endpoint).map_err(|s| JournalError::invalid(format!("replica endpoint: {}", s.message())))
    }
}

fn not_replicated(journal: &str) -> JournalError {
    JournalError::Unavailable(format!("journal {journal:?} is not replicated by this broker"))
}

fn replica_refused(journal: &str, endpoint: &str, resp: &proto::ReplicateResponse) -> JournalError {
    let status = proto::Status::try_from(resp.status).map_or_else(|_| resp.status.to_string(), |s| s.as_str_name().to_string());
    JournalError::Unavailable(format!("journal {journal:?}: replica {endpoint} answered {status}"))
}

/// A proposal's fragment and registers as a spool.
pub(super) fn spool_in(journal: &str, f: Option<&proto::Fragment>, registers: Option<proto::LabelSet>) -> Result<Spool, JournalError> {
    let f = f.ok_or_else(|| JournalError::Protocol(format!("journal {journal:?}: a replication answer without its fragment")))?;
    Ok(Spool {
        begin: f.begin,
        end: f.end,
        sum: f.sum.as_ref().map_or(crate::journal::EMPTY_SUM, sha1_in),
        registers: label_set_in(registers, false)?,
    })
}

/// A spool as a proposal's fragment.
pub(super) fn fragment_out(journal: &str, s: &Spool) -> proto::Fragment {
    proto::Fragment {
        journal: journal.to_string(),
        begin: s.begin,
        end: s.end,
        sum: Some(sha1_out(&s.sum)),
        compression_codec: proto::CompressionCodec::None as i32,
        ..Default::default()
    }
}

/// A journal's pipeline: the route it was built for and a stream per replica.
struct Pipeline {
    route: Route,
    replicas: Vec<ReplicaStream>,
}

impl Pipeline {
    fn broken(&self) -> bool {
        self.replicas.iter().any(|r| r.broken.load(Ordering::Acquire))
    }
}

/// An answer awaited from a replica.
type Waiter = oneshot::Sender<Result<proto::ReplicateResponse, JournalError>>;

/// One replica's `Replicate` stream.
struct ReplicaStream {
    endpoint: String,
    journal: String,
    tx: mpsc::UnboundedSender<proto::ReplicateRequest>,
    /// Waiters in the order of the proposals sent; the reader task answers them.
    waiting: Arc<Mutex<VecDeque<Waiter>>>,
    broken: Arc<AtomicBool>,
    /// The answer to the first proposal (the primary's spool).
    first: proto::ReplicateResponse,
}

/// A replica's answer as a result.
struct Answer(proto::ReplicateResponse, String);

impl Answer {
    fn ok(self, journal: &str) -> Result<(), JournalError> {
        if self.0.status == proto::Status::Ok as i32 {
            Ok(())
        } else {
            Err(replica_refused(journal, &self.1, &self.0))
        }
    }
}

impl ReplicaStream {
    /// Opens the stream to `endpoint` with the proposal of the primary's spool `mine`,
    /// and waits for the replica's answer to it.
    async fn open(mut stub: Stub<Channel>, endpoint: &str, journal: &str, header: proto::Header, mine: &Spool) -> Result<Self, JournalError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let first = proto::ReplicateRequest {
            header: Some(header),
            proposal: Some(fragment_out(journal, mine)),
            registers: Some(label_set_out(&mine.registers)),
            acknowledge: true,
            ..Default::default()
        };
        tx.send(first).expect("the receiver is held");
        let failed = |what: &str, s: tonic::Status| {
            JournalError::Unavailable(format!("journal {journal:?}: {what} replica {endpoint}: {}", s.message()))
        };
        let mut responses = stub
            .replicate(UnboundedReceiverStream::new(rx))
            .await
            .map_err(|s| failed("opening the stream to", s))?
            .into_inner();
        let first = responses
            .message()
            .await
            .map_err(|s| failed("reading the first answer of", s))?
            .ok_or_else(|| JournalError::Unavailable(format!("journal {journal:?}: replica {endpoint} ended the stream at once")))?;
        let waiting: Arc<Mutex<VecDeque<Waiter>>> = Arc::default();
        let broken = Arc::new(AtomicBool::new(false));
        let (w, b, j, e) = (waiting.clone(), broken.clone(), journal.to_string(), endpoint.to_string());
        tokio::spawn(async move {
            let why = loop {
                match responses.message().await {
                    Ok(Some(resp)) => {
                        let ok = resp.status == proto::Status::Ok as i32;
                        let waiter = w.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(Ok(resp));
                        }
                        if !ok {
                            break "it refused a proposal".to_string();
                        }
                    }
                    Ok(None) => break "it ended the stream".to_string(),
                    Err(s) => break format!("the stream failed: {}", s.message()),
                }
            };
            // Under the lock, so that no waiter is queued after the drain.
            let mut waiting = w.lock().unwrap_or_else(|p| p.into_inner());
            b.store(true, Ordering::Release);
            if !waiting.is_empty() {
                tracing::warn!(journal = %j, replica = %e, %why, pending = waiting.len(), "replication pipeline broke");
            }
            for waiter in waiting.drain(..) {
                let _ = waiter.send(Err(JournalError::Unavailable(format!("journal {j:?}: replica {e}: {why}"))));
            }
        });
        Ok(ReplicaStream { endpoint: endpoint.to_string(), journal: journal.to_string(), tx, waiting, broken, first })
    }

    /// Sends `content` and the proposal `spool` after it; resolves with the answer.
    fn commit(&self, content: &Bytes, spool: &Spool) -> impl std::future::Future<Output = Result<Answer, JournalError>> + Send + 'static {
        let (done, answer) = oneshot::channel();
        let sent = self.send(content, spool, done);
        let (endpoint, journal) = (self.endpoint.clone(), self.journal.clone());
        async move {
            if !sent {
                return Err(JournalError::Unavailable(format!("journal {journal:?}: the stream to replica {endpoint} is closed")));
            }
            let resp = answer
                .await
                .map_err(|_| JournalError::Unavailable(format!("journal {journal:?}: the stream to replica {endpoint} broke")))??;
            Ok(Answer(resp, endpoint))
        }
    }

    /// Queues the frames and the waiter; false if the stream is gone.
    fn send(&self, content: &Bytes, spool: &Spool, done: Waiter) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if self.broken.load(Ordering::Acquire) {
            return false;
        }
        let mut delta = 0usize;
        while delta < content.len() {
            let n = (content.len() - delta).min(CONTENT_FRAME);
            let frame = proto::ReplicateRequest { content: content.slice(delta..delta + n), content_delta: delta as i64, ..Default::default() };
            if self.tx.send(frame).is_err() {
                return false;
            }
            delta += n;
        }
        let proposal = proto::ReplicateRequest {
            proposal: Some(fragment_out(&self.journal, spool)),
            registers: Some(label_set_out(&spool.registers)),
            acknowledge: true,
            ..Default::default()
        };
        if self.tx.send(proposal).is_err() {
            return false;
        }
        waiting.push_back(done);
        true
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
