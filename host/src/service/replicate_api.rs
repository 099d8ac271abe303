//! `Replicate`: a replica's side of its primary's pipeline.
//!
//! Mirrors `broker/replicate_api.go`. The first frame carries the primary's Header,
//! whose Route must be equivalent to this broker's route of the journal once this
//! broker's keyspace reached the header's etcd revision (else the answer is
//! `WRONG_ROUTE`), and a proposal; then come content frames (`content`,
//! `content_delta` counting the bytes since the last proposal) and proposals, each
//! applied to the journal's spool (`journal/replica.rs`) as it comes and, if it asks
//! to be acknowledged, answered `OK` or `PROPOSAL_MISMATCH` with this replica's spool,
//! in order, once what it wrote is durable (many proposals share one sync). The route
//! is checked again at every proposal: a primary the route no longer names gets
//! `WRONG_ROUTE` and the stream ends, so a deposed primary cannot append through a
//! replica that already follows the new one.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::journal::{Journal, Reply, Route, COPY_CHUNK};

use super::convert::{label_set_out, route_in, to_status};
use super::pipeline::{fragment_out, spool_in};
use super::proto;
use super::server::{journal_base, Broker, RespStream};

type Tx = mpsc::Sender<Result<proto::ReplicateResponse, Status>>;

/// How long a replica waits for its keyspace to reach the primary's revision.
const REVISION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Broker {
    pub(super) async fn serve_replicate(&self, mut stream: Streaming<proto::ReplicateRequest>) -> Result<RespStream<proto::ReplicateResponse>, Status> {
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("replicate stream ended before its first frame"))?;
        let header = first.header.clone().ok_or_else(|| Status::invalid_argument("the first ReplicateRequest must have a Header"))?;
        let proposal = first.proposal.as_ref().ok_or_else(|| Status::invalid_argument("the first ReplicateRequest must have a proposal"))?;
        let name = journal_base(&proposal.journal).to_string();
        crate::journal::validate_journal_name(&name).map_err(|e| to_status(&e))?;
        let theirs = route_in(&header.route.clone().unwrap_or_default());
        // As Gazette's resolver: a primary that saw a newer keyspace than this broker
        // waits for it here, so a route just changed is not refused for being new.
        let wanted = header.etcd.as_ref().map_or(0, |e| e.revision);
        if wanted > self.catalog.revision() {
            let mut revisions = self.catalog.subscribe_revision();
            let _ = tokio::time::timeout(REVISION_WAIT, revisions.wait_for(|r| *r >= wanted)).await;
        }
        let route = self.route_of(&name);
        let (tx, rx) = mpsc::channel(16);
        let refusal = |status: proto::Status| proto::ReplicateResponse { status: status as i32, header: Some(self.header_for(&route)), ..Default::default() };
        let answer = if !route.includes(self.me()) {
            Some(refusal(proto::Status::NotJournalBroker))
        } else if !route.equivalent(&theirs) {
            Some(refusal(proto::Status::WrongRoute))
        } else {
            match self.storage.journal(&name) {
                Err(_) => Some(refusal(proto::Status::JournalNotFound)),
                Ok(journal) if !journal.is_replicated() => {
                    return Err(Status::failed_precondition(format!("journal {name:?} is not replicated by this broker (is it a cluster member?)")));
                }
                Ok(journal) => {
                    let limit = self.settings.max_append_bytes.max(COPY_CHUNK);
                    tokio::spawn(serve(self.clone(), journal, route, first, stream, limit, tx.clone()));
                    None
                }
            }
        };
        if let Some(frame) = answer {
            tokio::spawn(async move { tx.send(Ok(frame)).await });
        }
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

/// Applies the stream's frames to `journal` until it ends, fails, or the route moves.
/// Proposals are applied as they come; their answers go out in order once what each
/// wrote is durable, so the syncer commits many at once (as at a primary).
async fn serve(
    broker: Broker,
    journal: Arc<Journal>,
    route: Route,
    first: proto::ReplicateRequest,
    mut stream: Streaming<proto::ReplicateRequest>,
    limit: usize,
    tx: Tx,
) {
    let name = journal.name().to_string();
    let (answers, queue) = mpsc::unbounded_channel();
    let acker = tokio::spawn(acknowledge(journal.clone(), queue, tx.clone()));
    let mut header = Some(broker.header_for(&route));
    let mut content = BytesMut::new();
    let mut shutdown = broker.shutdown.clone();
    let mut req = first;
    let failed = |e: Status| Answer::Fail(e);
    loop {
        let answer = if let Some(proposal) = &req.proposal {
            let now = broker.route_of(&name);
            if !now.equivalent(&route) {
                let frame = proto::ReplicateResponse { status: proto::Status::WrongRoute as i32, header: Some(broker.header_for(&now)), ..Default::default() };
                let _ = answers.send(Answer::Last(frame));
                break;
            }
            match spool_in(&name, Some(proposal), req.registers.take()).and_then(|spool| journal.apply_proposal(&spool, &content)) {
                Ok((reply, durable_at)) => {
                    let mut resp = match reply {
                        Reply::Ok => proto::ReplicateResponse { status: proto::Status::Ok as i32, ..Default::default() },
                        Reply::Mismatch(mine) => proto::ReplicateResponse {
                            status: proto::Status::ProposalMismatch as i32,
                            fragment: Some(fragment_out(&name, &mine)),
                            registers: Some(label_set_out(&mine.registers)),
                            ..Default::default()
                        },
                    };
                    content.clear();
                    if req.acknowledge {
                        resp.header = header.take();
                        Some(Answer::After(durable_at, resp))
                    } else if resp.status != proto::Status::Ok as i32 {
                        Some(failed(Status::failed_precondition(format!("journal {name:?}: a proposal that asked for no answer did not apply"))))
                    } else {
                        None
                    }
                }
                Err(e) => Some(failed(to_status(&e))),
            }
        } else if req.content_delta != content.len() as i64 {
            Some(failed(Status::invalid_argument(format!(
                "journal {name:?}: content_delta {} where {} bytes were sent since the last proposal",
                req.content_delta,
                content.len()
            ))))
        } else if content.len() + req.content.len() > limit {
            Some(failed(Status::resource_exhausted(format!("journal {name:?}: more than {limit} bytes of content before a proposal"))))
        } else {
            content.extend_from_slice(&req.content);
            None
        };
        if let Some(answer) = answer {
            let last = matches!(answer, Answer::Fail(_));
            if answers.send(answer).is_err() || last {
                break;
            }
        }
        let next = tokio::select! {
            next = stream.message() => next,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        req = match next {
            Ok(Some(r)) => r,
            // The primary closed its side (a new pipeline) or went away: what was
            // sent without a proposal is dropped with `content`.
            Ok(None) | Err(_) => break,
        };
    }
    drop(answers);
    let _ = acker.await;
}

/// What the replica answers, in order.
enum Answer {
    /// This answer once the journal is durable through the offset.
    After(i64, proto::ReplicateResponse),
    /// This answer, then the stream ends.
    Last(proto::ReplicateResponse),
    /// This error ends the stream.
    Fail(Status),
}

/// Sends the answers in order, each once what it answers is durable.
async fn acknowledge(journal: Arc<Journal>, mut queue: mpsc::UnboundedReceiver<Answer>, tx: Tx) {
    while let Some(answer) = queue.recv().await {
        let frame = match answer {
            Answer::After(durable_at, resp) => match journal.wait_synced(durable_at).await {
                Ok(()) => Ok(resp),
                Err(e) => Err(to_status(&e)),
            },
            Answer::Last(resp) => Ok(resp),
            Answer::Fail(e) => Err(e),
        };
        let end = frame.is_err();
        if tx.send(frame).await.is_err() || end {
            return;
        }
    }
}
