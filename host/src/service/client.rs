//! [`JournalClient`] over gRPC to any broker speaking Gazette's `protocol.Journal`.
//!
//! Mirrors the Go client (`broker/client/list.go`, `reader.go`, `appender.go`):
//! Append sends a first frame with options, content frames, the empty commit frame
//! and half-closes; Read maps metadata frames to the write head and content frames to
//! chunks, and re-opens a blocking read where the broker ended the stream. Response
//! statuses become the same [`JournalError`] variants the local client returns.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::journal::{
    AppendRequest, AppendResult, ApplyChange, JournalClient, JournalError, JournalInfo, LabelSelector, PruneResult,
    ReadChunk, ReadRequest,
};

use super::convert::{from_status, label_set_in, label_set_out, route_in, selector_out, sha1_in, spec_in, spec_out, status_error};
use super::proto;
use super::proto::journal_client::JournalClient as Stub;

/// Content bytes per Append frame sent.
pub const APPEND_FRAME: usize = 1 << 20;
/// Largest message accepted from a broker.
const MAX_RECV: usize = 64 << 20;

/// A gRPC journal client (cheap to clone; connections are shared).
#[derive(Clone)]
pub struct GrpcJournalClient {
    /// The tonic stub.
    stub: Stub<Channel>,
    /// The broker's `streamsum.admin.Admin` stub on the same channel (pruning).
    admin: super::admin::AdminClient<Channel>,
}

impl GrpcJournalClient {
    /// A client of the broker at `url` (`http://host:port`), connecting lazily.
    ///
    /// # Errors
    /// `Invalid` for a malformed URL.
    pub fn new(url: &str) -> Result<Self, JournalError> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| JournalError::invalid(format!("broker URL {url:?}: {e}")))?;
        Ok(Self::from_channel(endpoint.connect_lazy()))
    }

    /// A client over an existing channel.
    pub fn from_channel(channel: Channel) -> Self {
        let admin = super::admin::AdminClient::new(channel.clone());
        GrpcJournalClient { stub: Stub::new(channel).max_decoding_message_size(MAX_RECV), admin }
    }

    /// Lists with Gazette's raw response, write heads not included.
    async fn list_specs(mut stub: Stub<Channel>, selector: LabelSelector) -> Result<Vec<JournalInfo>, JournalError> {
        let req = proto::ListRequest { selector: Some(selector_out(&selector)), watch: false, watch_resume: None };
        let mut stream = stub.list(req).await.map_err(from_status)?.into_inner();
        let mut out = Vec::new();
        let mut first = true;
        while let Some(frame) = stream.message().await.map_err(from_status)? {
            if first && frame.status != 0 {
                return Err(status_error(frame.status, "(list)"));
            }
            first = false;
            for j in frame.journals {
                let route = j.route.as_ref().map(route_in).unwrap_or_default();
                let spec = spec_in(j.spec.unwrap_or_default())?;
                out.push(JournalInfo { spec, create_revision: j.create_revision, mod_revision: j.mod_revision, write_head: 0, route });
            }
        }
        Ok(out)
    }

    /// Forwards List-watch snapshots (frames up to the empty end-of-snapshot marker),
    /// with write heads, until the receiver or the broker goes away.
    async fn watch_loop(
        &self,
        selector: LabelSelector,
        tx: &mpsc::Sender<Result<Vec<JournalInfo>, JournalError>>,
    ) -> Result<(), JournalError> {
        let req = proto::ListRequest { selector: Some(selector_out(&selector)), watch: true, watch_resume: None };
        let mut stream = self.stub.clone().list(req).await.map_err(from_status)?.into_inner();
        let mut snapshot: Vec<JournalInfo> = Vec::new();
        while let Some(frame) = stream.message().await.map_err(from_status)? {
            if frame.status != 0 {
                return Err(status_error(frame.status, "(list watch)"));
            }
            if frame.header.is_none() && frame.journals.is_empty() {
                let mut infos = std::mem::take(&mut snapshot);
                for info in infos.iter_mut() {
                    info.write_head = self.write_head(&info.spec.name).await?;
                }
                if tx.send(Ok(infos)).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            for j in frame.journals {
                let route = j.route.as_ref().map(route_in).unwrap_or_default();
                let spec = spec_in(j.spec.unwrap_or_default())?;
                snapshot.push(JournalInfo { spec, create_revision: j.create_revision, mod_revision: j.mod_revision, write_head: 0, route });
            }
        }
        Err(JournalError::Unavailable("the broker ended the List watch".into()))
    }

    /// As [`JournalClient::list`], but a journal whose write head cannot be read (its
    /// broker is unreachable) is listed with a head of -1 instead of failing the list:
    /// what an operator's listing shows while a broker is down.
    pub async fn list_known_heads(&self, selector: LabelSelector) -> Result<Vec<JournalInfo>, JournalError> {
        let mut infos = Self::list_specs(self.stub.clone(), selector).await?;
        let heads = futures::future::join_all(infos.iter().map(|j| self.write_head(&j.spec.name))).await;
        for (info, head) in infos.iter_mut().zip(heads) {
            info.write_head = match head {
                Ok(h) => h,
                Err(e) if e.is_transient() => -1,
                Err(e) => return Err(e),
            };
        }
        Ok(infos)
    }

    /// The committed write head of `journal` (a metadata-only, non-blocking read at -1).
    pub async fn write_head(&self, journal: &str) -> Result<i64, JournalError> {
        let req = proto::ReadRequest { journal: journal.to_string(), offset: -1, metadata_only: true, ..Default::default() };
        let mut stream = self.stub.clone().read(req).await.map_err(from_status)?.into_inner();
        match stream.message().await.map_err(from_status)? {
            Some(f) if f.status == 0 || f.status == proto::Status::OffsetNotYetAvailable as i32 => Ok(f.write_head),
            Some(f) => Err(status_error(f.status, journal)),
            None => Err(JournalError::Protocol(format!("read of {journal:?} ended without a frame"))),
        }
    }
}

impl JournalClient for GrpcJournalClient {
    fn list(&self, selector: LabelSelector) -> BoxFuture<'static, Result<Vec<JournalInfo>, JournalError>> {
        let this = self.clone();
        async move {
            let mut infos = Self::list_specs(this.stub.clone(), selector).await?;
            let heads = futures::future::join_all(infos.iter().map(|j| this.write_head(&j.spec.name))).await;
            for (info, head) in infos.iter_mut().zip(heads) {
                info.write_head = head?;
            }
            Ok(infos)
        }
        .boxed()
    }

    fn apply(&self, changes: Vec<ApplyChange>) -> BoxFuture<'static, Result<i64, JournalError>> {
        let mut stub = self.stub.clone();
        async move {
            let changes = changes
                .into_iter()
                .map(|c| match c {
                    ApplyChange::Upsert { spec, expect_mod_revision } => {
                        proto::apply_request::Change { expect_mod_revision, upsert: Some(spec_out(&spec)), delete: String::new() }
                    }
                    ApplyChange::Delete { journal, expect_mod_revision } => {
                        proto::apply_request::Change { expect_mod_revision, upsert: None, delete: journal }
                    }
                })
                .collect();
            let resp = stub.apply(proto::ApplyRequest { changes }).await.map_err(from_status)?.into_inner();
            if resp.status != 0 {
                return Err(status_error(resp.status, "(apply)"));
            }
            Ok(resp.header.and_then(|h| h.etcd).map_or(0, |e| e.revision))
        }
        .boxed()
    }

    fn append(&self, req: AppendRequest) -> BoxFuture<'static, Result<AppendResult, JournalError>> {
        let mut stub = self.stub.clone();
        async move {
            let journal = req.journal.clone();
            let frames = append_frames(&req);
            let resp = stub.append(futures::stream::iter(frames)).await.map_err(from_status)?.into_inner();
            append_result(resp, &journal)
        }
        .boxed()
    }

    fn watch(&self, selector: LabelSelector) -> BoxStream<'static, Result<Vec<JournalInfo>, JournalError>> {
        let (tx, rx) = mpsc::channel(4);
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.watch_loop(selector, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        ReceiverStream::new(rx).boxed()
    }

    fn prune(&self, journal: &str, before: i64) -> BoxFuture<'static, Result<PruneResult, JournalError>> {
        super::admin::prune_remote(self.admin.clone(), journal.to_owned(), before).boxed()
    }

    fn read(&self, req: ReadRequest) -> BoxStream<'static, Result<ReadChunk, JournalError>> {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(read_loop(self.stub.clone(), req, tx));
        ReceiverStream::new(rx).boxed()
    }
}

/// The frames of one Append RPC.
fn append_frames(req: &AppendRequest) -> Vec<proto::AppendRequest> {
    let mut frames = vec![proto::AppendRequest {
        journal: req.journal.clone(),
        offset: req.offset,
        check_registers: req.check_registers.as_ref().map(selector_out),
        union_registers: (!req.union_registers.is_empty()).then(|| label_set_out(&req.union_registers)),
        subtract_registers: (!req.subtract_registers.is_empty()).then(|| label_set_out(&req.subtract_registers)),
        ..Default::default()
    }];
    let content: &Bytes = &req.content;
    for start in (0..content.len()).step_by(APPEND_FRAME) {
        let piece = content.slice(start..(start + APPEND_FRAME).min(content.len()));
        frames.push(proto::AppendRequest { content: piece, ..Default::default() });
    }
    frames.push(proto::AppendRequest::default()); // commit intent
    frames
}

fn append_result(resp: proto::AppendResponse, journal: &str) -> Result<AppendResult, JournalError> {
    let registers = label_set_in(resp.registers.clone(), false)?;
    match proto::Status::try_from(resp.status) {
        Ok(proto::Status::Ok) => {}
        Ok(proto::Status::RegisterMismatch) => {
            return Err(JournalError::RegisterMismatch { journal: journal.to_string(), registers })
        }
        Ok(proto::Status::WrongAppendOffset) => {
            return Err(JournalError::WrongAppendOffset { journal: journal.to_string(), offset: -1, write_head: -1 })
        }
        _ => return Err(status_error(resp.status, journal)),
    }
    let commit = resp.commit.ok_or_else(|| JournalError::Protocol(format!("append to {journal:?}: OK without commit")))?;
    if resp.registers.is_none() {
        return Err(JournalError::Protocol(format!("append to {journal:?}: OK without registers")));
    }
    Ok(AppendResult {
        journal: commit.journal,
        begin: commit.begin,
        end: commit.end,
        sha1: commit.sum.as_ref().map(sha1_in).unwrap_or_default(),
        registers,
    })
}

type ChunkTx = mpsc::Sender<Result<ReadChunk, JournalError>>;

/// Runs Read RPCs from the current offset until done, re-opening a blocking read
/// that the broker closed.
async fn read_loop(stub: Stub<Channel>, mut req: ReadRequest, tx: ChunkTx) {
    loop {
        match read_once(stub.clone(), &mut req, &tx).await {
            Ok(true) if req.block && (req.end_offset == 0 || req.offset < req.end_offset) => continue,
            Ok(_) => return,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

/// One Read RPC; advances `req.offset`. Returns whether the stream ended at EOF
/// (rather than the receiver going away).
async fn read_once(mut stub: Stub<Channel>, req: &mut ReadRequest, tx: &ChunkTx) -> Result<bool, JournalError> {
    let rpc = proto::ReadRequest {
        journal: req.journal.clone(),
        offset: req.offset,
        block: req.block,
        end_offset: req.end_offset,
        ..Default::default()
    };
    let mut stream = stub.read(rpc).await.map_err(from_status)?.into_inner();
    let mut write_head = 0;
    while let Some(f) = stream.message().await.map_err(from_status)? {
        if f.status == proto::Status::OffsetNotYetAvailable as i32 {
            return Err(JournalError::OffsetNotYetAvailable { journal: req.journal.clone(), offset: f.offset, write_head: f.write_head });
        }
        if f.status != 0 {
            return Err(status_error(f.status, &req.journal));
        }
        if f.fragment.is_some() {
            write_head = f.write_head;
            if req.offset == -1 || f.offset > req.offset {
                req.offset = f.offset; // -1 resolved, or an offset jump
            }
        }
        if !f.content.is_empty() {
            if f.offset != req.offset && req.offset != -1 {
                return Err(JournalError::Protocol(format!(
                    "read of {:?}: content at {} but expected {}",
                    req.journal, f.offset, req.offset
                )));
            }
            req.offset = f.offset + f.content.len() as i64;
            let chunk = ReadChunk { offset: f.offset, write_head, content: f.content };
            if tx.send(Ok(chunk)).await.is_err() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
