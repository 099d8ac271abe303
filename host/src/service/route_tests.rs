//! A broker serves only what its routes give it: reads at any member, appends at the
//! primary; everything else is answered with Gazette's status and the journal's route,
//! over real gRPC with Gazette's generated client.

use std::collections::BTreeMap;

use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;

use super::*;
use crate::journal::{JournalSpec, LabelSet};
use proto::journal_client::JournalClient as Stub;

/// Routes from a table; journals not in it are served here as primary.
struct Table {
    me: ProcessId,
    routes: BTreeMap<String, Route>,
}

impl JournalRoutes for Table {
    fn local(&self) -> &ProcessId {
        &self.me
    }

    fn route(&self, journal: &str) -> Route {
        self.routes.get(journal).cloned().unwrap_or_else(|| Route::single(self.me.clone(), "http://me"))
    }
}

fn id(s: &str) -> ProcessId {
    ProcessId::new("z", s)
}

/// A broker process `me` whose journal `a/elsewhere` has primary `other` (`me` a
/// replica) and `a/foreign` is served by `other` alone, at `other_url`; `a/here` is
/// `me`'s.
async fn serve() -> (Stub<tonic::transport::Channel>, Arc<Storage>, tempfile::TempDir, watch::Sender<bool>) {
    serve_with_other("http://other").await
}

async fn serve_with_other(other_url: &str) -> (Stub<tonic::transport::Channel>, Arc<Storage>, tempfile::TempDir, watch::Sender<bool>) {
    let two = Route { members: vec![id("other"), id("me")], primary: Some(0), endpoints: vec![other_url.into(), "http://me".into()] };
    let one = Route { members: vec![id("other")], primary: Some(0), endpoints: vec![other_url.into()] };
    let routes = Table { me: id("me"), routes: [("a/elsewhere".to_string(), two), ("a/foreign".to_string(), one)].into() };
    let (client, storage, dir, stop, _) = broker(routes).await;
    (client, storage, dir, stop)
}

/// A broker holding the three journals, routing them with `routes`; also its URL.
async fn broker(routes: Table) -> (Stub<tonic::transport::Channel>, Arc<Storage>, tempfile::TempDir, watch::Sender<bool>, String) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).unwrap();
    let specs = ["a/elsewhere", "a/foreign", "a/here"].map(|name| JournalSpec {
        name: name.into(),
        labels: LabelSet::from_pairs([("content-type", "application/octet-stream")]),
        ..JournalSpec::default()
    });
    storage.create_missing(specs.to_vec()).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let settings = BrokerSettings { endpoint: "http://me".into(), max_append_bytes: 1 << 20 };
    let broker = Broker::new(storage.clone(), settings, stop_rx).with_routes(Arc::new(routes));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(proto::journal_server::JournalServer::new(broker))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (Stub::connect(url.clone()).await.unwrap(), storage, dir, stop, url)
}

async fn append(client: &mut Stub<tonic::transport::Channel>, journal: &str) -> proto::AppendResponse {
    append_with(client, journal, true).await
}

async fn append_with(client: &mut Stub<tonic::transport::Channel>, journal: &str, do_not_proxy: bool) -> proto::AppendResponse {
    let frames = vec![
        proto::AppendRequest { journal: journal.into(), do_not_proxy, ..Default::default() },
        proto::AppendRequest { content: b"hello\n".to_vec().into(), ..Default::default() },
        proto::AppendRequest::default(),
    ];
    client.append(tokio_stream::iter(frames)).await.unwrap().into_inner()
}

async fn first_read_frame(client: &mut Stub<tonic::transport::Channel>, journal: &str) -> proto::ReadResponse {
    let req = proto::ReadRequest { journal: journal.into(), offset: 0, block: false, do_not_proxy: true, ..Default::default() };
    let mut frames = client.read(req).await.unwrap().into_inner();
    frames.next().await.unwrap().unwrap()
}

fn members(header: &Option<proto::Header>) -> (Vec<String>, i32) {
    let route = header.as_ref().unwrap().route.as_ref().unwrap();
    (route.members.iter().map(|m| m.suffix.clone()).collect(), route.primary)
}

#[tokio::test]
async fn with_do_not_proxy_an_append_at_a_replica_is_refused_with_the_route_and_writes_nothing() {
    let (mut client, storage, _dir, _stop) = serve().await;
    let resp = append(&mut client, "a/elsewhere").await;
    assert_eq!(resp.status, proto::Status::NotJournalPrimaryBroker as i32);
    assert_eq!(members(&resp.header), (vec!["other".to_string(), "me".to_string()], 0));
    assert_eq!(resp.header.as_ref().unwrap().route.as_ref().unwrap().endpoints, ["http://other", "http://me"]);
    assert_eq!(storage.journal("a/elsewhere").unwrap().head(), 0, "nothing was appended");

    let ok = append(&mut client, "a/here").await;
    assert_eq!(ok.status, 0);
    assert_eq!(ok.commit.unwrap().end, 6);
}

#[tokio::test]
async fn with_do_not_proxy_a_read_is_served_at_any_member_and_refused_elsewhere_with_the_route() {
    let (mut client, _storage, _dir, _stop) = serve().await;
    let foreign = first_read_frame(&mut client, "a/foreign").await;
    assert_eq!(foreign.status, proto::Status::NotJournalBroker as i32);
    assert_eq!(members(&foreign.header), (vec!["other".to_string()], 0));

    let replica = first_read_frame(&mut client, "a/elsewhere").await;
    assert_eq!(replica.status, proto::Status::OffsetNotYetAvailable as i32, "served here: an empty journal's head");
}

#[tokio::test]
async fn a_listing_names_each_journals_own_route() {
    let (mut client, _storage, _dir, _stop) = serve().await;
    let req = proto::ListRequest { selector: Some(proto::LabelSelector::default()), ..Default::default() };
    let mut frames = client.list(req).await.unwrap().into_inner();
    let first = frames.next().await.unwrap().unwrap();
    let routes: Vec<(String, Vec<String>)> = first
        .journals
        .iter()
        .map(|j| {
            let r = j.route.as_ref().unwrap();
            (j.spec.as_ref().unwrap().name.clone(), r.members.iter().map(|m| m.suffix.clone()).collect())
        })
        .collect();
    let want = [("a/elsewhere", vec!["other", "me"]), ("a/foreign", vec!["other"]), ("a/here", vec!["me"])];
    let want: Vec<(String, Vec<String>)> =
        want.iter().map(|(n, m)| (n.to_string(), m.iter().map(|s| s.to_string()).collect())).collect();
    assert_eq!(routes, want);
}

#[tokio::test]
async fn a_broker_that_does_not_serve_a_journal_proxies_reads_and_appends_to_the_one_that_does() {
    // `other` serves every journal itself; `me` routes a/foreign and a/elsewhere to it.
    let (_other_client, other_storage, _other_dir, _other_stop, other_url) =
        broker(Table { me: id("other"), routes: BTreeMap::new() }).await;
    let (mut client, storage, _dir, _stop) = serve_with_other(&other_url).await;

    let resp = append_with(&mut client, "a/foreign", false).await;
    assert_eq!(resp.status, 0, "proxied and acknowledged: {resp:?}");
    assert_eq!((resp.commit.as_ref().unwrap().begin, resp.commit.as_ref().unwrap().end), (0, 6));
    assert_eq!(other_storage.journal("a/foreign").unwrap().head(), 6, "written at the primary");
    assert_eq!(storage.journal("a/foreign").unwrap().head(), 0, "and not here");
    assert_eq!(append_with(&mut client, "a/elsewhere", false).await.status, 0, "a replica proxies appends to its primary");
    assert_eq!(other_storage.journal("a/elsewhere").unwrap().head(), 6);

    // A read of a journal `me` is no member of comes from `other`, byte for byte.
    let req = proto::ReadRequest { journal: "a/foreign".into(), offset: 0, block: false, ..Default::default() };
    let mut frames = client.read(req).await.unwrap().into_inner();
    let mut content = Vec::new();
    while let Some(frame) = frames.next().await {
        let frame = frame.unwrap();
        content.extend_from_slice(&frame.content);
        if frame.status == proto::Status::OffsetNotYetAvailable as i32 {
            break;
        }
        assert_eq!(frame.status, 0, "{frame:?}");
    }
    assert_eq!(content, b"hello\n");

    // An append with no primary to go to is refused with the route, not proxied.
    let nowhere = Route { members: vec![id("other")], primary: None, endpoints: vec![other_url.clone()] };
    let (mut lonely, _s, _d, _st, _) =
        broker(Table { me: id("me"), routes: [("a/foreign".to_string(), nowhere)].into() }).await;
    assert_eq!(append_with(&mut lonely, "a/foreign", false).await.status, proto::Status::NoJournalPrimaryBroker as i32);
}

#[tokio::test]
async fn a_proxied_request_to_an_unreachable_broker_fails_naming_it() {
    let (mut client, _storage, _dir, _stop) = serve_with_other("http://127.0.0.1:1").await;
    let frames = vec![
        proto::AppendRequest { journal: "a/foreign".into(), ..Default::default() },
        proto::AppendRequest { content: b"x".to_vec().into(), ..Default::default() },
        proto::AppendRequest::default(),
    ];
    let err = client.append(tokio_stream::iter(frames)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("proxying Append of journal \"a/foreign\" to http://127.0.0.1:1"), "{}", err.message());
}
