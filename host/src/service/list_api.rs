//! `List` (unary and watch) and `ListFragments`.
//!
//! Mirrors `broker/list_apply_api.go`: a snapshot is a first frame with the header
//! and up to 25 journals, then continuation frames of journals only. A watch sends a
//! snapshot, an empty end-of-snapshot frame, and a fresh snapshot (with a strictly
//! greater header revision) whenever the matched set changes.

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::journal::{JournalError, JournalInfo, LabelSelector};

use super::convert::{route_out, selector_in, sha1_out, spec_out, to_status};
use super::proto;
use super::server::{journal_base, Broker, RespStream};

/// Journals per List frame (keeps frames under 32 KiB).
pub const LIST_PAGE: usize = 25;

impl Broker {
    pub(super) fn serve_list(&self, req: proto::ListRequest) -> Result<RespStream<proto::ListResponse>, Status> {
        let selector = selector_in(req.selector).map_err(|e| to_status(&e))?;
        // Refuse malformed selectors (e.g. a prefix not ending in '/') up front.
        let (revision, journals) = self.catalog.list(&selector).map_err(|e| to_status(&e))?;
        let (tx, rx) = mpsc::channel(8);
        if !req.watch {
            let frames = self.snapshot(revision, &journals);
            tokio::spawn(async move {
                for f in frames {
                    if tx.send(Ok(f)).await.is_err() {
                        return;
                    }
                }
            });
        } else {
            let resume = req.watch_resume.and_then(|h| h.etcd).map_or(0, |e| e.revision);
            tokio::spawn(self.clone().watch(selector, resume, tx));
        }
        Ok(Box::pin(ReceiverStream::new(rx)))
    }

    /// Snapshot frames of `journals` at `revision`.
    fn snapshot(&self, revision: i64, journals: &[JournalInfo]) -> Vec<proto::ListResponse> {
        let entry = |j: &JournalInfo| proto::list_response::Journal {
            spec: Some(spec_out(&j.spec)),
            mod_revision: j.mod_revision,
            route: Some(route_out(&self.route_of(&j.spec.name))),
            create_revision: j.create_revision,
        };
        let mut frames = vec![proto::ListResponse { status: 0, header: Some(self.header_at(revision)), journals: vec![] }];
        for (i, page) in journals.chunks(LIST_PAGE).enumerate() {
            let entries = page.iter().map(entry).collect();
            if i == 0 {
                frames[0].journals = entries;
            } else {
                frames.push(proto::ListResponse { journals: entries, ..Default::default() });
            }
        }
        frames
    }

    /// A List watch: snapshots on every change of the matched set, until shutdown.
    async fn watch(self, selector: LabelSelector, resume: i64, tx: mpsc::Sender<Result<proto::ListResponse, Status>>) {
        let mut revisions = self.catalog.subscribe_revision();
        let mut shutdown = self.shutdown.clone();
        let mut last: Option<(usize, i64)> = None;
        loop {
            let revision = *revisions.borrow_and_update();
            if revision > resume {
                let (revision, journals) = match self.catalog.list(&selector) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(to_status(&e))).await;
                        return;
                    }
                };
                let key = (journals.len(), journals.iter().map(|j| j.mod_revision).max().unwrap_or(0));
                if last != Some(key) {
                    last = Some(key);
                    let mut frames = self.snapshot(revision, &journals);
                    frames.push(proto::ListResponse::default()); // end of snapshot
                    for f in frames {
                        if tx.send(Ok(f)).await.is_err() {
                            return;
                        }
                    }
                }
            }
            tokio::select! {
                changed = revisions.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            }
        }
    }

    pub(super) fn serve_list_fragments(&self, req: proto::FragmentsRequest) -> Result<proto::FragmentsResponse, Status> {
        let name = journal_base(&req.journal);
        let journal = match self.storage.journal(name) {
            Ok(j) => j,
            Err(JournalError::NotFound { .. }) => {
                return Ok(proto::FragmentsResponse { status: proto::Status::JournalNotFound as i32, header: Some(self.header()), ..Default::default() })
            }
            Err(e) => return Err(to_status(&e)),
        };
        let limit = match req.page_limit {
            0 => 1000,
            n if (1..=10_000).contains(&n) => n as usize,
            n => return Err(Status::invalid_argument(format!("page_limit {n} not in 0..=10000"))),
        };
        // Gazette's index: the fragments in the journal's stores (with their store and
        // modification time), and the local ones no stored fragment covers (mod_time
        // 0: an end_mod_time bound excludes them all).
        let remote = journal.remote();
        let mut frags: Vec<proto::Fragment> = remote
            .iter()
            .filter(|f| f.mod_time >= req.begin_mod_time && (req.end_mod_time == 0 || f.mod_time < req.end_mod_time))
            .map(|f| proto::Fragment {
                journal: name.to_string(),
                begin: f.begin,
                end: f.end,
                sum: Some(sha1_out(&f.sum)),
                compression_codec: proto::CompressionCodec::None as i32,
                backing_store: f.store.url.clone(),
                mod_time: f.mod_time,
                ..Default::default()
            })
            .collect();
        if req.end_mod_time == 0 {
            let local = journal.fragments().into_iter().filter(|(b, e)| !remote.iter().any(|f| f.begin <= *b && f.end >= *e));
            frags.extend(local.map(|(begin, end)| proto::Fragment {
                journal: name.to_string(),
                begin,
                end,
                sum: Some(proto::Sha1Sum::default()),
                compression_codec: proto::CompressionCodec::None as i32,
                ..Default::default()
            }));
        }
        frags.sort_by_key(|f| (f.begin, f.end));
        frags.retain(|f| f.begin >= req.next_page_token);
        let next = frags.get(limit).map_or(0, |f| f.begin);
        frags.truncate(limit);
        let fragments = frags.into_iter().map(|spec| proto::fragments_response::Fragment { spec: Some(spec), signed_url: String::new() }).collect();
        Ok(proto::FragmentsResponse { status: 0, header: Some(self.header()), fragments, next_page_token: next })
    }
}
