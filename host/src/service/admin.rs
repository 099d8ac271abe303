//! The broker's `streamsum.admin.Admin` service (`proto/admin.proto`): pruning.
//!
//! Gazette deletes old fragments from its fragment stores (retention, and `gazctl
//! shards prune` for recovery logs, `consumer/shard_prune.go`), never through
//! `protocol.Journal`. Our fragments live in the broker's data directory, so the
//! broker offers one clearly separate extension, `PruneFragments`, served next to
//! `protocol.Journal` (which stays Gazette's). [`GrpcJournalClient`] calls it for
//! [`JournalClient::prune`](crate::journal::JournalClient::prune); against a broker
//! without it (Gazette's own) the call fails with `Unsupported`.
//!
//! [`GrpcJournalClient`]: super::GrpcJournalClient

use std::sync::Arc;

use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use crate::journal::{JournalError, PruneResult, Storage};

use super::convert::{from_status, to_status};

/// Generated messages and stubs of the `streamsum.admin` package.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("streamsum.admin");
}

pub use pb::admin_client::AdminClient;
pub use pb::admin_server::AdminServer;

/// The `streamsum.admin.Admin` service over a broker's storage.
pub struct Admin {
    /// The journals.
    storage: Arc<Storage>,
}

impl Admin {
    /// The tonic service over `storage`.
    pub fn server(storage: Arc<Storage>) -> AdminServer<Admin> {
        AdminServer::new(Admin { storage })
    }
}

#[tonic::async_trait]
impl pb::admin_server::Admin for Admin {
    async fn prune_fragments(
        &self,
        request: Request<pb::PruneFragmentsRequest>,
    ) -> Result<Response<pb::PruneFragmentsResponse>, Status> {
        let req = request.into_inner();
        let storage = self.storage.clone();
        let journal = super::server::journal_base(&req.journal).to_owned();
        let result = tokio::task::spawn_blocking(move || storage.prune(&journal, req.before))
            .await
            .map_err(|e| Status::internal(format!("prune task failed: {e}")))?;
        match result {
            Ok(r) => Ok(Response::new(pb::PruneFragmentsResponse {
                removed: r.removed.iter().map(|&(begin, end)| pb::PrunedFragment { begin, end }).collect(),
                low: r.low,
                write_head: r.write_head,
            })),
            Err(e @ JournalError::NotFound { .. }) => Err(Status::not_found(e.to_string())),
            Err(e) => Err(to_status(&e)),
        }
    }
}

/// `PruneFragments` of `journal` before `before` on the broker behind `stub`.
///
/// # Errors
/// `NotFound`, `Invalid` (offset out of range, with the broker's message),
/// `Unsupported` (a broker without the admin service), or transport errors.
pub async fn prune_remote(mut stub: AdminClient<Channel>, journal: String, before: i64) -> Result<PruneResult, JournalError> {
    let req = pb::PruneFragmentsRequest { journal: journal.clone(), before };
    match stub.prune_fragments(req).await {
        Ok(resp) => {
            let r = resp.into_inner();
            Ok(PruneResult {
                journal,
                removed: r.removed.iter().map(|f| (f.begin, f.end)).collect(),
                low: r.low,
                write_head: r.write_head,
            })
        }
        Err(s) if s.code() == Code::NotFound => Err(JournalError::NotFound { journal }),
        Err(s) if s.code() == Code::Unimplemented => Err(JournalError::Unsupported(format!(
            "journal {journal:?}: the broker does not serve streamsum.admin.Admin/PruneFragments ({})",
            s.message()
        ))),
        Err(s) => Err(from_status(s)),
    }
}

/// A one-line JSON report of a prune, as `journals prune` prints it.
pub fn prune_report(r: &PruneResult) -> String {
    serde_json::json!({
        "journal": r.journal,
        "removed_fragments": r.removed.iter().map(|(b, e)| [b, e]).collect::<Vec<_>>(),
        "removed_bytes": r.removed_bytes(),
        "low": r.low,
        "write_head": r.write_head,
    })
    .to_string()
}
