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
/// replica) and `a/foreign` is served by `other` alone; `a/here` is `me`'s.
async fn serve() -> (Stub<tonic::transport::Channel>, Arc<Storage>, tempfile::TempDir, watch::Sender<bool>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).unwrap();
    let specs = ["a/elsewhere", "a/foreign", "a/here"].map(|name| JournalSpec {
        name: name.into(),
        labels: LabelSet::from_pairs([("content-type", "application/octet-stream")]),
        ..JournalSpec::default()
    });
    storage.create_missing(specs.to_vec()).unwrap();
    let two = Route { members: vec![id("other"), id("me")], primary: Some(0), endpoints: vec!["http://other".into(), "http://me".into()] };
    let one = Route { members: vec![id("other")], primary: Some(0), endpoints: vec!["http://other".into()] };
    let routes = Table { me: id("me"), routes: [("a/elsewhere".to_string(), two), ("a/foreign".to_string(), one)].into() };
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
    (Stub::connect(url).await.unwrap(), storage, dir, stop)
}

async fn append(client: &mut Stub<tonic::transport::Channel>, journal: &str) -> proto::AppendResponse {
    let frames = vec![
        proto::AppendRequest { journal: journal.into(), ..Default::default() },
        proto::AppendRequest { content: b"hello\n".to_vec().into(), ..Default::default() },
        proto::AppendRequest::default(),
    ];
    client.append(tokio_stream::iter(frames)).await.unwrap().into_inner()
}

async fn first_read_frame(client: &mut Stub<tonic::transport::Channel>, journal: &str) -> proto::ReadResponse {
    let req = proto::ReadRequest { journal: journal.into(), offset: 0, block: false, ..Default::default() };
    let mut frames = client.read(req).await.unwrap().into_inner();
    frames.next().await.unwrap().unwrap()
}

fn members(header: &Option<proto::Header>) -> (Vec<String>, i32) {
    let route = header.as_ref().unwrap().route.as_ref().unwrap();
    (route.members.iter().map(|m| m.suffix.clone()).collect(), route.primary)
}

#[tokio::test]
async fn an_append_at_a_replica_is_refused_with_the_route_and_writes_nothing() {
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
async fn a_read_is_served_at_any_member_and_refused_elsewhere_with_the_route() {
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
