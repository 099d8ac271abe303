//! Proxying Read and Append to the broker that serves a journal.
//!
//! Gazette's `broker/read_api.go` and `append_api.go` (`proxyRead`, `proxyAppend`): a
//! broker asked about a journal it does not serve (Read: not a member of its route;
//! Append: not its primary) forwards the request, with `do_not_proxy` set so it is not
//! forwarded again, to the broker the route names, and relays the answer frame for
//! frame. A request that already carries `do_not_proxy` is answered with the route
//! instead, as is one whose route names no endpoint to go to. Channels to other
//! brokers are opened once and shared.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Status, Streaming};

use super::proto;
use super::proto::journal_client::JournalClient as Stub;
use super::limits::MAX_FRAME_BYTES;
use crate::journal::Route;

/// How long connecting to another broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Channels to other brokers, by endpoint.
#[derive(Default)]
pub struct ProxyPool {
    channels: Mutex<HashMap<String, Channel>>,
}

impl ProxyPool {
    /// A client of the broker at `endpoint` (connected lazily, reused).
    pub(super) fn stub(&self, endpoint: &str) -> Result<Stub<Channel>, Status> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let channel = match channels.get(endpoint) {
            Some(c) => c.clone(),
            None => {
                let c = Endpoint::from_shared(endpoint.to_string())
                    .map_err(|e| Status::internal(format!("route endpoint {endpoint:?} is not a URL: {e}")))?
                    .connect_timeout(CONNECT_TIMEOUT)
                    .tcp_nodelay(true)
                    .connect_lazy();
                channels.insert(endpoint.to_string(), c.clone());
                c
            }
        };
        Ok(Stub::new(channel).max_decoding_message_size(MAX_FRAME_BYTES).max_encoding_message_size(MAX_FRAME_BYTES))
    }

    /// Forwards a Read to `endpoint` and relays its frames.
    pub(super) async fn read(
        &self,
        endpoint: &str,
        mut req: proto::ReadRequest,
    ) -> Result<Streaming<proto::ReadResponse>, Status> {
        req.do_not_proxy = true;
        let journal = req.journal.clone();
        let resp = self.stub(endpoint)?.read(req).await.map_err(|s| proxy_error(s, "Read", &journal, endpoint))?;
        Ok(resp.into_inner())
    }

    /// Forwards an Append — its first frame `first`, then what remains of `rest` — to
    /// `endpoint` and returns its response. A client that fails mid-stream ends the
    /// forwarded stream without the commit frame, so the primary rolls it back.
    pub(super) async fn append(
        &self,
        endpoint: &str,
        mut first: proto::AppendRequest,
        rest: Streaming<proto::AppendRequest>,
    ) -> Result<proto::AppendResponse, Status> {
        first.do_not_proxy = true;
        let journal = first.journal.clone();
        let rest = rest.take_while(|f| std::future::ready(f.is_ok())).filter_map(|f| std::future::ready(f.ok()));
        let frames = futures::stream::once(async move { first }).chain(rest);
        let resp = self.stub(endpoint)?.append(frames).await.map_err(|s| proxy_error(s, "Append", &journal, endpoint))?;
        Ok(resp.into_inner())
    }
}

/// Where to forward a request about a journal with `route`: the primary's endpoint
/// (reads fall back to any member's when there is no primary).
pub(super) fn target(route: &Route, for_read: bool) -> Option<&str> {
    let endpoint = |i: usize| route.endpoints.get(i).map(String::as_str).filter(|e| !e.is_empty());
    match route.primary {
        Some(p) => endpoint(p),
        None if for_read => (0..route.members.len()).find_map(endpoint),
        None => None,
    }
}

fn proxy_error(s: Status, rpc: &str, journal: &str, endpoint: &str) -> Status {
    Status::new(s.code(), format!("proxying {rpc} of journal {journal:?} to {endpoint}: {}", s.message()))
}
