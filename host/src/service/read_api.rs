//! `Read`: metadata frames, content frames of at most 32,736 bytes, status frames.
//!
//! Mirrors `broker/read_api.go`. The first frame carries the header. Each fragment
//! gets a metadata frame (`offset`, `write_head`, `fragment`) followed by content
//! frames carrying only `offset` and non-empty `content`. A non-blocking read at the
//! head ends with an `OFFSET_NOT_YET_AVAILABLE` frame; an unknown journal is answered
//! by a single `JOURNAL_NOT_FOUND` frame. A read of a journal this broker is no member
//! of is proxied to one that is, or, with `do_not_proxy`, answered by a single
//! `NOT_JOURNAL_BROKER` frame whose header has the journal's route.

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::journal::{check_read, JournalError, Misrouted, ReadEvent, ReadRequest};

use super::convert::{gazette_status, misrouted_status, to_status};
use super::proto;
use super::server::{journal_base, Broker, RespStream};

/// Largest content per Read frame: 32 KiB − 32 so a marshalled frame fits gRPC's
/// 32 KiB buffer tier (Gazette's `broker/read_api.go` chunk size).
pub const MAX_READ_CONTENT: usize = 32 * 1024 - 32;

impl Broker {
    pub(super) async fn serve_read(&self, req: proto::ReadRequest) -> Result<RespStream<proto::ReadResponse>, Status> {
        let journal = journal_base(&req.journal).to_string();
        let read = ReadRequest { journal, offset: req.offset, block: req.block, end_offset: req.end_offset };
        let (tx, rx) = mpsc::channel(16);
        let route = self.route_of(&read.journal);
        let header = self.header_for(&route);
        // A replicated journal is read at its primary, which alone knows which bytes
        // every replica has (`journal/replica.rs`); its replicas proxy there.
        let replicated = || self.storage.journal(&read.journal).is_ok_and(|j| j.is_replicated());
        let checked = check_read(&route, self.me()).and_then(|()| match route.primary_member() {
            Some(p) if p != self.me() && replicated() => Err(Misrouted::NotJournalPrimaryBroker),
            None if replicated() => Err(Misrouted::NoJournalPrimaryBroker),
            _ => Ok(()),
        });
        if let Err(misrouted) = checked {
            let any_member = misrouted == Misrouted::NotJournalBroker;
            if let Some(endpoint) = super::proxy::target(&route, any_member).filter(|_| !req.do_not_proxy) {
                let frames = self.proxy.read(endpoint, req.clone()).await?;
                return Ok(Box::pin(frames));
            }
            let frame = proto::ReadResponse { status: misrouted_status(misrouted) as i32, header: Some(header), ..Default::default() };
            tokio::spawn(async move { tx.send(Ok(frame)).await });
            return Ok(Box::pin(ReceiverStream::new(rx)));
        }
        match self.storage.read_with(&read, req.metadata_only, MAX_READ_CONTENT) {
            Ok(events) => {
                tokio::spawn(forward(events, header, self.shutdown.clone(), tx));
            }
            Err(e) => {
                let st = gazette_status(&e).ok_or_else(|| to_status(&e))?;
                let frame = proto::ReadResponse { status: st as i32, header: Some(header), ..Default::default() };
                tokio::spawn(async move { tx.send(Ok(frame)).await });
            }
        }
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

/// Turns read events into frames until the read ends, the client leaves, or shutdown.
async fn forward(
    mut events: impl futures::Stream<Item = Result<ReadEvent, JournalError>> + Unpin,
    header: proto::Header,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    tx: mpsc::Sender<Result<proto::ReadResponse, Status>>,
) {
    let mut header = Some(header);
    loop {
        let event = tokio::select! {
            ev = events.next() => ev,
            _ = shutdown.wait_for(|s| *s) => None,
        };
        let Some(event) = event else { return };
        let frame = match event {
            Ok(ReadEvent::Fragment { offset, write_head, fragment }) => Ok(proto::ReadResponse {
                status: 0,
                header: header.take(),
                offset,
                write_head,
                fragment: Some(proto::Fragment {
                    journal: fragment.journal,
                    begin: fragment.begin,
                    end: fragment.end,
                    sum: Some(proto::Sha1Sum::default()),
                    compression_codec: proto::CompressionCodec::None as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            Ok(ReadEvent::Content { offset, content }) => {
                debug_assert!(!content.is_empty() && content.len() <= MAX_READ_CONTENT);
                Ok(proto::ReadResponse { offset, content, ..Default::default() })
            }
            Err(JournalError::OffsetNotYetAvailable { offset, write_head, .. }) => Ok(proto::ReadResponse {
                status: proto::Status::OffsetNotYetAvailable as i32,
                header: header.take(),
                offset,
                write_head,
                ..Default::default()
            }),
            Err(e) => match gazette_status(&e) {
                Some(st) => Ok(proto::ReadResponse { status: st as i32, header: header.take(), ..Default::default() }),
                None => Err(to_status(&e)),
            },
        };
        if tx.send(frame).await.is_err() {
            return;
        }
    }
}
