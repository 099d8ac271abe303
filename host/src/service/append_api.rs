//! `Append`: first frame with options, content frames, an empty frame, then EOF.
//!
//! Mirrors `broker/append_api.go` and `append_fsm.go`. Preconditions (journal exists,
//! `check_registers`, explicit offset) are checked before content is streamed, and
//! again atomically when the append is written. Content is gathered in memory up to
//! the broker's limit; only after the empty "commit" frame and a clean end of stream
//! is it appended (and acknowledged once durable). An end of stream without the
//! empty frame, or a client error, rolls the append back: nothing is written. An
//! append at a broker that is not the journal's primary is proxied to the primary, or,
//! with `do_not_proxy` (or no primary), answered at once with
//! `NOT_JOURNAL_PRIMARY_BROKER` (or `NO_JOURNAL_PRIMARY_BROKER`) and the route.

use bytes::BytesMut;
use tonic::{Status, Streaming};

use crate::journal::{check_append, AppendRequest, JournalError};

use super::convert::{gazette_status, label_set_in, label_set_out, misrouted_status, selector_in, sha1_out, to_status};
use super::proto;
use super::server::{journal_base, Broker};

impl Broker {
    pub(super) async fn serve_append(&self, mut stream: Streaming<proto::AppendRequest>) -> Result<proto::AppendResponse, Status> {
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("append stream ended before its first frame"))?;
        let suspend = first.suspend;
        let raw_first = first.clone();
        let mut req = first_frame(first).map_err(|e| to_status(&e))?;
        let route = self.route_of(&req.journal);
        if let Err(misrouted) = check_append(&route, self.me()) {
            if let Some(endpoint) = super::proxy::target(&route, false).filter(|_| !raw_first.do_not_proxy) {
                return self.proxy.append(endpoint, raw_first, stream).await;
            }
            let header = Some(self.header_for(&route));
            return Ok(proto::AppendResponse { status: misrouted_status(misrouted) as i32, header, ..Default::default() });
        }

        // Preconditions at the head of the RPC, before any content is streamed.
        let journal = match self.storage.journal(&req.journal) {
            Ok(j) => j,
            Err(e) => return self.refused(&e),
        };
        if let Some(sel) = &req.check_registers {
            let regs = journal.registers();
            if !regs.is_empty() && !sel.matches(&regs) {
                return self.refused(&JournalError::RegisterMismatch { journal: req.journal.clone(), registers: regs });
            }
        }

        let mut content = BytesMut::new();
        let mut chunks = 0i64;
        let mut shutdown = self.shutdown.clone();
        loop {
            let next = tokio::select! {
                next = stream.message() => next,
                _ = shutdown.wait_for(|s| *s) => {
                    return Err(Status::unavailable(format!(
                        "append to {:?} rolled back: the broker is shutting down",
                        req.journal
                    )));
                }
            };
            let Some(frame) = next.map_err(|s| {
                Status::aborted(format!("append to {:?} rolled back: client stream failed: {}", req.journal, s.message()))
            })?
            else {
                return Err(Status::aborted(format!(
                    "append to {:?} rolled back: stream ended without the empty commit frame",
                    req.journal
                )));
            };
            chunks += 1;
            check_content_frame(&frame, chunks, &req.journal)?;
            if frame.content.is_empty() {
                break; // the commit intent; EOF must follow
            }
            if content.len() + frame.content.len() > self.settings.max_append_bytes {
                return Err(Status::resource_exhausted(format!(
                    "append to {:?} exceeds the broker's limit of {} bytes",
                    req.journal, self.settings.max_append_bytes
                )));
            }
            content.extend_from_slice(&frame.content);
        }
        if stream.message().await?.is_some() {
            return Err(Status::invalid_argument(format!(
                "append to {:?}: expected EOF after the empty content chunk",
                req.journal
            )));
        }

        // Gazette refuses content with the flush-dependent suspend modes.
        if !content.is_empty() && (2..=4).contains(&suspend) {
            return self.refused(&JournalError::NotAllowed { journal: req.journal.clone(), op: "append with this suspend mode" });
        }
        req.content = content.freeze();
        let appended = if journal.is_replicated() { self.replicator.append(&journal, &req).await } else { journal.append(&req).await };
        match appended {
            Ok(r) => Ok(proto::AppendResponse {
                status: 0,
                header: Some(self.header()),
                commit: Some(proto::Fragment {
                    journal: r.journal,
                    begin: r.begin,
                    end: r.end,
                    sum: Some(sha1_out(&r.sha1)),
                    compression_codec: proto::CompressionCodec::None as i32,
                    ..Default::default()
                }),
                registers: Some(label_set_out(&r.registers)),
                total_chunks: chunks,
                ..Default::default()
            }),
            Err(e) => self.refused(&e),
        }
    }

    /// A non-OK AppendResponse for errors with a Gazette status, else a gRPC error.
    fn refused(&self, e: &JournalError) -> Result<proto::AppendResponse, Status> {
        let status = gazette_status(e).ok_or_else(|| to_status(e))?;
        let registers = match e {
            JournalError::RegisterMismatch { registers, .. } => Some(label_set_out(registers)),
            _ => None,
        };
        Ok(proto::AppendResponse { status: status as i32, header: Some(self.header()), registers, ..Default::default() })
    }
}

/// Validates the first frame into an append request (without content).
fn first_frame(f: proto::AppendRequest) -> Result<AppendRequest, JournalError> {
    let journal = journal_base(&f.journal).to_string();
    crate::journal::validate_journal_name(&journal)?;
    if !f.content.is_empty() {
        return Err(JournalError::invalid(format!("append to {journal:?}: the first frame may not carry content")));
    }
    if f.offset < 0 {
        return Err(JournalError::invalid(format!("append to {journal:?}: invalid offset {}", f.offset)));
    }
    if !(0..=4).contains(&f.suspend) {
        return Err(JournalError::invalid(format!("append to {journal:?}: invalid suspend {}", f.suspend)));
    }
    Ok(AppendRequest {
        check_registers: f.check_registers.map(|s| selector_in(Some(s))).transpose()?,
        union_registers: label_set_in(f.union_registers, false)?,
        subtract_registers: label_set_in(f.subtract_registers, false)?,
        offset: f.offset,
        journal,
        content: Default::default(),
    })
}

/// A frame after the first may carry only content.
fn check_content_frame(f: &proto::AppendRequest, n: i64, journal: &str) -> Result<(), Status> {
    let extra = f.header.is_some()
        || !f.journal.is_empty()
        || f.do_not_proxy
        || f.offset != 0
        || f.check_registers.is_some()
        || f.union_registers.is_some()
        || f.subtract_registers.is_some()
        || f.suspend != 0;
    if extra {
        return Err(Status::invalid_argument(format!(
            "append to {journal:?}: frame {n} after the first may carry only content"
        )));
    }
    Ok(())
}
