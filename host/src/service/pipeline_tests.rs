//! Replication between real brokers over gRPC, routed by a table the test moves:
//! appends acknowledged only once every replica holds them, byte for byte; a replica
//! that goes fails the append without making it readable; a new replica filled in; a
//! new primary cutting an unacknowledged tail; too few members refused.

use std::sync::RwLock;

use sha1::{Digest, Sha1};
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;

use super::*;
use crate::journal::{JournalSpec, LabelSet, ProcessId, Reply};
use crate::service::server::{Broker, BrokerSettings};
use proto::journal_client::JournalClient as GazetteClient;

const J: &str = "a/replicated";

/// The route every broker of a test sees (for every journal).
#[derive(Default)]
struct Shared(RwLock<Route>);

struct NodeRoutes {
    me: ProcessId,
    shared: Arc<Shared>,
}

impl JournalRoutes for NodeRoutes {
    fn local(&self) -> &ProcessId {
        &self.me
    }

    fn route(&self, _journal: &str) -> Route {
        self.shared.0.read().unwrap().clone()
    }
}

/// A broker of the test.
struct Node {
    id: ProcessId,
    url: String,
    storage: Arc<Storage>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(name: &str, shared: &Arc<Shared>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let spec = JournalSpec {
            name: J.into(),
            replication: 3,
            labels: LabelSet::from_pairs([("content-type", "application/octet-stream")]),
            ..JournalSpec::default()
        };
        storage.create_missing(vec![spec]).unwrap();
        storage.journal(J).unwrap().enable_replication().unwrap();
        let id = ProcessId::new("z", name);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stop_rx) = watch::channel(false);
        let settings = BrokerSettings { endpoint: url.clone(), max_append_bytes: 1 << 20 };
        let routes = Arc::new(NodeRoutes { me: id.clone(), shared: shared.clone() });
        let broker = Broker::new(storage.clone(), settings, stop_rx.clone()).with_routes(routes);
        let mut stopped = stop_rx;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(proto::journal_server::JournalServer::new(broker))
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                    let _ = stopped.wait_for(|s| *s).await;
                }),
        );
        Node { id, url, storage, stop, _dir: dir }
    }

    async fn client(&self) -> GazetteClient<tonic::transport::Channel> {
        GazetteClient::connect(self.url.clone()).await.unwrap()
    }

    fn journal(&self) -> Arc<Journal> {
        self.storage.journal(J).unwrap()
    }

    /// Every byte the journal holds here, acknowledged or not.
    fn bytes(&self) -> Vec<u8> {
        let j = self.journal();
        let end = j.spool().unwrap().end;
        let mut at = j.local_low();
        let mut out = Vec::new();
        while at < end {
            let chunk = j.local_bytes(at, end).unwrap();
            at += chunk.len() as i64;
            out.extend_from_slice(&chunk);
        }
        out
    }
}

fn route(nodes: &[&Node]) -> Route {
    Route { members: nodes.iter().map(|n| n.id.clone()).collect(), primary: Some(0), endpoints: nodes.iter().map(|n| n.url.clone()).collect() }
}

async fn append(client: &mut GazetteClient<tonic::transport::Channel>, content: &[u8]) -> Result<proto::AppendResponse, tonic::Status> {
    let frames = vec![
        proto::AppendRequest { journal: J.into(), ..Default::default() },
        proto::AppendRequest { content: content.to_vec().into(), ..Default::default() },
        proto::AppendRequest::default(),
    ];
    client.append(tokio_stream::iter(frames)).await.map(|r| r.into_inner())
}

/// Everything readable through `client` (non-blocking, from offset 0).
async fn read_all(client: &mut GazetteClient<tonic::transport::Channel>) -> Vec<u8> {
    let req = proto::ReadRequest { journal: J.into(), offset: 0, block: false, ..Default::default() };
    let mut frames = client.read(req).await.unwrap().into_inner();
    let mut out = Vec::new();
    while let Some(frame) = frames.next().await {
        let frame = frame.unwrap();
        out.extend_from_slice(&frame.content);
        if frame.status == proto::Status::OffsetNotYetAvailable as i32 {
            break;
        }
        assert_eq!(frame.status, 0, "read frame {frame:?}");
    }
    out
}

fn record(i: usize) -> Vec<u8> {
    format!("record {i:04} {}\n", "x".repeat(i % 50)).into_bytes()
}

#[tokio::test]
async fn appends_are_acknowledged_once_every_replica_holds_them_byte_for_byte() {
    let shared = Arc::new(Shared::default());
    let (p, r1, r2) = (Node::start("p", &shared).await, Node::start("r1", &shared).await, Node::start("r2", &shared).await);
    *shared.0.write().unwrap() = route(&[&p, &r1, &r2]);
    let mut client = p.client().await;
    let mut expect = Vec::new();
    for i in 0..40 {
        let content = record(i);
        let resp = append(&mut client, &content).await.unwrap();
        assert_eq!(resp.status, 0, "append {i}");
        let commit = resp.commit.unwrap();
        assert_eq!((commit.begin, commit.end), (expect.len() as i64, (expect.len() + content.len()) as i64));
        assert_eq!(sha1_in(commit.sum.as_ref().unwrap()), <[u8; 20]>::from(Sha1::digest(&content)));
        expect.extend_from_slice(&content);
        // Acknowledged: durable at every replica already.
        for n in [&r1, &r2] {
            assert!(n.journal().head() <= n.journal().spool().unwrap().end);
            assert_eq!(n.journal().spool().unwrap().end, expect.len() as i64, "{} holds append {i}", n.id.suffix);
        }
    }
    for n in [&p, &r1, &r2] {
        assert_eq!(n.bytes(), expect, "{} holds exactly the appended bytes", n.id.suffix);
    }
    assert_eq!(p.journal().head(), expect.len() as i64);
    // A read at a replica is served by the primary (which alone knows what every
    // replica has), and so is one at the primary.
    assert_eq!(read_all(&mut r2.client().await).await, expect);
    assert_eq!(read_all(&mut client).await, expect);
}

type Client = GazetteClient<tonic::transport::Channel>;

/// Primary p with replicas r1 and r2, and five records acknowledged through p.
async fn three_with_five_appends() -> (Arc<Shared>, Node, Node, Node, Client, Vec<u8>) {
    let shared = Arc::new(Shared::default());
    let (p, r1, r2) = (Node::start("p", &shared).await, Node::start("r1", &shared).await, Node::start("r2", &shared).await);
    *shared.0.write().unwrap() = route(&[&p, &r1, &r2]);
    let mut client = p.client().await;
    let mut acked = Vec::new();
    for i in 0..5 {
        assert_eq!(append(&mut client, &record(i)).await.unwrap().status, 0);
        acked.extend_from_slice(&record(i));
    }
    (shared, p, r1, r2, client, acked)
}

#[tokio::test]
async fn a_replica_that_goes_fails_the_append_unread_and_a_new_one_is_filled_in() {
    let (shared, p, r1, r2, mut client, acked) = three_with_five_appends().await;
    r2.stop.send_replace(true);
    // The pipeline breaks: the append fails, and what the primary wrote is not readable.
    let mut failed = 0;
    for i in 5..8 {
        match append(&mut client, &record(i)).await {
            Ok(resp) => assert_ne!(resp.status, 0, "append {i} with a replica down was acknowledged"),
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                failed += 1;
            }
        }
    }
    assert_eq!(failed, 3);
    assert_eq!(read_all(&mut client).await, acked, "only acknowledged bytes are readable");
    assert_eq!(p.journal().head(), acked.len() as i64);
    // The allocator replaces r2 with an empty r3: the next pipeline fills it in from
    // the primary (including the primary's unacknowledged appends, which now commit).
    let r3 = Node::start("r3", &shared).await;
    *shared.0.write().unwrap() = route(&[&p, &r1, &r3]);
    let resp = append(&mut client, &record(100)).await.unwrap();
    assert_eq!(resp.status, 0);
    let all = p.bytes();
    assert!(all.ends_with(&record(100)));
    assert!(all.starts_with(&acked));
    for n in [&r1, &r3] {
        assert_eq!(n.bytes(), all, "{} holds the primary's bytes", n.id.suffix);
    }
    assert_eq!(read_all(&mut client).await, all);
}

#[tokio::test]
async fn a_new_primary_cuts_a_replica_s_unacknowledged_tail() {
    let (shared, p, r1, r2, _, mut acked) = three_with_five_appends().await;
    // The primary's next append reached r2 only, then the primary died.
    let tail = b"never acknowledged\n";
    let spool = r2.journal().spool().unwrap();
    let mut h = Sha1::new();
    h.update(&acked[spool.begin as usize..]);
    h.update(tail);
    let proposal = Spool { begin: spool.begin, end: spool.end + tail.len() as i64, sum: h.finalize().into(), registers: spool.registers };
    assert_eq!(r2.journal().replicate(&proposal, tail).await.unwrap(), Reply::Ok);
    p.stop.send_replace(true);
    // r1 is the new primary, with a fresh third member.
    let r3 = Node::start("r3", &shared).await;
    *shared.0.write().unwrap() = route(&[&r1, &r2, &r3]);
    let mut client = r1.client().await;
    assert_eq!(append(&mut client, &record(5)).await.unwrap().status, 0);
    acked.extend_from_slice(&record(5));
    for n in [&r1, &r2, &r3] {
        assert_eq!(n.bytes(), acked, "{} holds the new primary's history, without the tail", n.id.suffix);
    }
    assert_eq!(read_all(&mut client).await, acked);
}

#[tokio::test]
async fn a_route_with_fewer_members_than_replication_takes_no_appends() {
    let shared = Arc::new(Shared::default());
    let (p, r1) = (Node::start("p", &shared).await, Node::start("r1", &shared).await);
    *shared.0.write().unwrap() = route(&[&p, &r1]);
    let resp = append(&mut p.client().await, b"x\n").await.unwrap();
    assert_eq!(resp.status, proto::Status::InsufficientJournalBrokers as i32);
    assert_eq!((p.journal().spool().unwrap().end, r1.journal().spool().unwrap().end), (0, 0), "nothing was written");
}
