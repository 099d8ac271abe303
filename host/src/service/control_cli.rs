//! `streamsum-host plugins reload`, `shards list` and `shards apply`: the client side of
//! the host's `streamsum.Control` service (issue 7) and of Gazette's `consumer.Shard`
//! service, as `gazctl.rs` is of `protocol.Journal`. Gazette's `gazctl shards list`
//! prints a similar table; `shards apply` reads gazctl's shard-set files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use tonic::transport::{Channel, Endpoint};

use super::control::{pb, ControlClient};
use super::proto::consumer as pc;
use super::shard_api::ShardClient;
use crate::consumer::ShardChange;

/// Arguments of `streamsum-host plugins`.
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// The host's gRPC address (as printed by `broker listening on`).
    #[arg(long, env = "BROKER_ADDRESS", default_value = "http://127.0.0.1:8080", global = true)]
    pub broker: String,
    /// The plugins command.
    #[command(subcommand)]
    pub command: PluginsCommand,
}

/// `plugins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Load a new summer version and swap it in at each shard's next transaction
    /// boundary; prints the version now running, or the refusal (exit status 1).
    Reload {
        /// The .wasm file (made absolute here); default: the host's --app file.
        #[arg(long, env = "PLUGINS_APP")]
        app: Option<PathBuf>,
    },
}

/// Arguments of `streamsum-host shards`.
#[derive(Debug, Args)]
pub struct ShardsArgs {
    /// The host's gRPC address (in a cluster, any shard host's).
    #[arg(long, env = "BROKER_ADDRESS", default_value = "http://127.0.0.1:8080", global = true)]
    pub broker: String,
    /// A broker to read journal write heads from for LAG (default: --broker, which is
    /// one in the embedded default; a cluster's shard host is not).
    #[arg(long, env = "SHARDS_JOURNALS", global = true)]
    pub journals: Option<String>,
    /// The shards command.
    #[command(subcommand)]
    pub command: ShardsCommand,
}

/// `shards` subcommands.
#[derive(Debug, Subcommand)]
pub enum ShardsCommand {
    /// List shards: status, plugin SHA-256, read-through offset, last commit, swaps,
    /// rollbacks and last error.
    List {
        /// Output format.
        #[arg(long, env = "SHARDS_FORMAT", value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Create, update or delete shards from gazctl's YAML (or JSON) shard set:
    /// `common:` fields every shard inherits, and `shards:`, each a spec or
    /// `{id: …, delete: true}`.
    Apply {
        /// The file.
        file: PathBuf,
    },
}

/// How `shards list` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// One JSON document.
    Json,
}

/// A channel to the host at `url` (`--broker`).
async fn channel(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_string()).with_context(|| format!("--broker {url:?} is not a URL"))?;
    endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connecting to the host at {url}"))
}

async fn connect(url: &str) -> anyhow::Result<ControlClient<Channel>> {
    Ok(ControlClient::new(channel(url).await?))
}

/// Runs `streamsum-host plugins ...`.
///
/// # Errors
/// The host is unreachable, or refused the plugin (the refusal is the message).
pub async fn run_plugins(args: PluginsArgs) -> anyhow::Result<()> {
    let PluginsCommand::Reload { app } = args.command;
    let path = match app {
        Some(p) => std::path::absolute(&p).with_context(|| format!("--app {}", p.display()))?.display().to_string(),
        None => String::new(),
    };
    let mut client = connect(&args.broker).await?;
    let resp = client
        .reload_plugin(pb::ReloadPluginRequest { path })
        .await
        .with_context(|| format!("ReloadPlugin on {}", args.broker))?
        .into_inner();
    if !resp.refusal.is_empty() {
        bail!("{} (still running {})", resp.refusal, resp.version);
    }
    if resp.swapped {
        println!("plugin {} accepted: each shard swaps at its next transaction boundary", resp.version);
    } else {
        println!("plugin {} is already running", resp.version);
    }
    Ok(())
}

/// Runs `streamsum-host shards ...`.
///
/// # Errors
/// The host is unreachable or does not serve the control service.
pub async fn run_shards(args: ShardsArgs) -> anyhow::Result<()> {
    let format = match args.command {
        ShardsCommand::List { format } => format,
        ShardsCommand::Apply { file } => return apply(&args.broker, &file).await,
    };
    let mut client = connect(&args.broker).await?;
    let mut resp = client
        .list_shards(pb::ListShardsRequest {})
        .await
        .with_context(|| format!("ListShards on {}", args.broker))?
        .into_inner();
    let listed = listed(&args.broker).await;
    if let Some(listed) = listed.as_ref().filter(|l| !l.is_empty()) {
        resp.shards = across_hosts(&args.broker, resp.shards, listed).await;
    }
    let lags = lags(args.journals.as_deref().unwrap_or(&args.broker), &resp).await;
    let routes = routes(listed, &resp);
    match format {
        Format::Json => println!("{}", to_json(&resp, &lags, &routes)),
        Format::Table => print!("{}", table(&resp, &lags, &routes)),
    }
    Ok(())
}

/// Every shard `Shard/List` on `url` reports (`None` where the host does not serve
/// the Shard service).
async fn listed(url: &str) -> Option<Vec<pc::list_response::Shard>> {
    let mut client = shard_client(url).await.ok()?;
    client.list(pc::ListRequest::default()).await.ok().map(|r| r.into_inner().shards)
}

/// Every listed shard's progress, from the host of its primary (a cluster spreads
/// them over hosts): the asked host's own rows where it is primary or no other host
/// answers, and an IDLE row for a shard no host runs yet.
async fn across_hosts(asked: &str, local: Vec<pb::ShardInfo>, listed: &[pc::list_response::Shard]) -> Vec<pb::ShardInfo> {
    let mut remote: BTreeMap<String, Vec<pb::ShardInfo>> = BTreeMap::new();
    let primary_endpoint = |shard: &pc::list_response::Shard| {
        let route = shard.route.as_ref()?;
        usize::try_from(route.primary).ok().and_then(|p| route.endpoints.get(p)).filter(|e| !e.is_empty()).cloned()
    };
    for endpoint in listed.iter().filter_map(primary_endpoint) {
        if endpoint == asked || remote.contains_key(&endpoint) {
            continue;
        }
        let rows = match connect(&endpoint).await {
            Ok(mut c) => c.list_shards(pb::ListShardsRequest {}).await.map(|r| r.into_inner().shards).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        remote.insert(endpoint, rows);
    }
    let find = |rows: &[pb::ShardInfo], id: &str| rows.iter().find(|r| r.id == id).cloned();
    listed
        .iter()
        .filter_map(|shard| shard.spec.as_ref().map(|spec| (shard, spec.id.clone())))
        .map(|(shard, id)| {
            let from_primary = primary_endpoint(shard).and_then(|e| remote.get(&e)).and_then(|rows| find(rows, &id));
            from_primary.or_else(|| find(&local, &id)).unwrap_or_else(|| pb::ShardInfo {
                status: if shard.route.as_ref().is_some_and(|r| !r.members.is_empty()) { "ASSIGNED" } else { "IDLE" }.into(),
                note: "not running on the asked host, and its primary's host did not answer".into(),
                id,
                ..Default::default()
            })
        })
        .collect()
}

/// Each row's shard as `Shard/List` reported it (`None` where it did not).
fn routes(listed: Option<Vec<pc::list_response::Shard>>, resp: &pb::ListShardsResponse) -> Vec<Option<pc::list_response::Shard>> {
    let listed = listed.unwrap_or_default();
    resp.shards.iter().map(|s| listed.iter().find(|l| l.spec.as_ref().is_some_and(|spec| spec.id == s.id)).cloned()).collect()
}

/// `zone#suffix` of each route member with its replica status, primary first.
fn route_text(shard: &Option<pc::list_response::Shard>) -> String {
    let Some(shard) = shard else { return "?".into() };
    let Some(route) = &shard.route else { return "-".into() };
    let mut members: Vec<(bool, String)> = route
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (i as i32 == route.primary, format!("{}#{}:{}", m.zone, m.suffix, replica_code(shard, i).unwrap_or("-")))
        })
        .collect();
    members.sort_by_key(|(primary, _)| !primary);
    if members.is_empty() {
        return "-".into();
    }
    members.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join(",")
}

async fn shard_client(url: &str) -> anyhow::Result<ShardClient<Channel>> {
    Ok(ShardClient::new(channel(url).await?))
}

/// `shards apply FILE`: reads the shard set, reads current revisions with
/// `Shard/List`, and applies every change in one `Shard/Apply`.
async fn apply(broker: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = super::yaml::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let changes = crate::consumer::parse_shard_set(&doc).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut client = shard_client(broker).await?;
    let current = client.list(pc::ListRequest::default()).await.with_context(|| format!("Shard/List on {broker}"))?.into_inner();
    let revision_of = |id: &str| {
        current.shards.iter().find(|s| s.spec.as_ref().is_some_and(|spec| spec.id == id)).map(|s| s.mod_revision)
    };
    let mut request = pc::ApplyRequest::default();
    for change in &changes {
        let expect = revision_of(change.id());
        request.changes.push(match change {
            ShardChange::Upsert(spec) => pc::apply_request::Change {
                expect_mod_revision: expect.unwrap_or(0),
                upsert: Some(super::shard_api::shard_spec_out(spec)),
                ..Default::default()
            },
            ShardChange::Delete(id) => {
                let Some(expect) = expect else { bail!("{}: cannot delete shard {id:?}: it does not exist", file.display()) };
                pc::apply_request::Change { expect_mod_revision: expect, delete: id.clone(), ..Default::default() }
            }
        });
    }
    let resp = client.apply(request).await.map_err(|s| anyhow::anyhow!("{}: {}", file.display(), s.message()))?.into_inner();
    match pc::Status::try_from(resp.status) {
        Ok(pc::Status::Ok) => {
            let revision = resp.header.and_then(|h| h.etcd).map_or(0, |e| e.revision);
            println!("applied {} change(s) at revision {revision}", changes.len());
            Ok(())
        }
        Ok(status) => bail!("{}: Shard/Apply answered {} (someone changed the shards meanwhile? list and retry)", file.display(), status.as_str_name()),
        Err(_) => bail!("{}: Shard/Apply answered unknown status {}", file.display(), resp.status),
    }
}

fn last_commit(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let age =
        std::time::SystemTime::now().duration_since(UNIX_EPOCH + Duration::from_millis(ms as u64)).unwrap_or_default();
    format!("{:.1}s ago", age.as_secs_f64())
}

/// Each shard's lag: bytes between its read-through offset and its source journal's
/// write head (`None` if the journals cannot be listed: the table shows what is known).
async fn lags(broker: &str, resp: &pb::ListShardsResponse) -> Vec<Option<i64>> {
    let listed = match super::GrpcJournalClient::new(broker) {
        Ok(c) => crate::journal::JournalClient::list(&c, Default::default()).await.ok(),
        Err(_) => None,
    };
    let journals = listed.unwrap_or_default();
    let head = |id: &str| journals.iter().find(|j| crate::consumer::shard_id_for(&j.spec.name) == id).map(|j| j.write_head);
    resp.shards.iter().map(|s| head(&s.id).map(|h| (h - s.read_through).max(0))).collect()
}

fn table(resp: &pb::ListShardsResponse, lags: &[Option<i64>], routes: &[Option<pc::list_response::Shard>]) -> String {
    let mut rows =
        vec![["ID", "STATUS", "ROUTE", "PLUGIN", "READ-THROUGH", "LAG", "LAST-COMMIT", "SWAPS", "ROLLBACKS", "LAST-ERROR", "NOTE"]
            .map(String::from)
            .to_vec()];
    for ((s, lag), route) in resp.shards.iter().zip(lags).zip(routes) {
        rows.push(vec![
            s.id.clone(),
            s.status.clone(),
            route_text(route),
            s.plugin.clone(),
            s.read_through.to_string(),
            lag.map(|l| l.to_string()).unwrap_or_else(|| "?".into()),
            last_commit(s.last_commit_unix_ms),
            s.swaps.to_string(),
            s.rollbacks.to_string(),
            if s.last_error.is_empty() { "-".into() } else { s.last_error.replace('\n', " ") },
            if s.note.is_empty() { "-".into() } else { s.note.replace('\n', " ") },
        ]);
    }
    let widths: Vec<usize> = (0..11).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("current plugin {}; {} swaps, {} rollbacks\n", resp.plugin, resp.swaps, resp.rollbacks));
    out
}

fn to_json(resp: &pb::ListShardsResponse, lags: &[Option<i64>], routes: &[Option<pc::list_response::Shard>]) -> serde_json::Value {
    let shards: Vec<serde_json::Value> = resp
        .shards
        .iter()
        .zip(lags)
        .zip(routes)
        .map(|((s, lag), route)| {
            serde_json::json!({
                "id": s.id,
                "status": s.status,
                "route": route.as_ref().map(route_json),
                "plugin": s.plugin,
                "read_through": s.read_through,
                "lag": lag,
                "last_commit_unix_ms": s.last_commit_unix_ms,
                "last_error": if s.last_error.is_empty() { None } else { Some(&s.last_error) },
                "transactions": s.transactions,
                "messages": s.messages,
                "swaps": s.swaps,
                "rollbacks": s.rollbacks,
                "note": if s.note.is_empty() { None } else { Some(&s.note) },
            })
        })
        .collect();
    serde_json::json!({ "plugin": resp.plugin, "swaps": resp.swaps, "rollbacks": resp.rollbacks, "shards": shards })
}

/// The status code name of route member `i` of a listed shard (`?` for a number this
/// build does not know), if it reported one.
fn replica_code(shard: &pc::list_response::Shard, i: usize) -> Option<&'static str> {
    shard.status.get(i).map(|r| pc::replica_status::Code::try_from(r.code).map_or("?", |c| c.as_str_name()))
}

/// A listed shard's route and replica statuses as JSON.
fn route_json(shard: &pc::list_response::Shard) -> serde_json::Value {
    let route = shard.route.clone().unwrap_or_default();
    let replicas: Vec<serde_json::Value> = route
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let status = replica_code(shard, i);
            serde_json::json!({"zone": m.zone, "suffix": m.suffix, "endpoint": route.endpoints.get(i), "status": status, "primary": i as i32 == route.primary})
        })
        .collect();
    serde_json::json!({"revision": shard.mod_revision, "replicas": replicas})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle_shard() -> pb::ListShardsResponse {
        pb::ListShardsResponse {
            shards: vec![pb::ShardInfo {
                id: "chunks-part-001".into(),
                status: "IDLE".into(),
                note: "idle: all 1 standby slot(s) are held by live processes (1a2b)".into(),
                ..Default::default()
            }],
            plugin: "abc".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_table_says_why_a_shard_is_idle() {
        let table = table(&idle_shard(), &[Some(0)], &[None]);
        let mut lines = table.lines();
        let header = lines.next().unwrap();
        let row = lines.next().unwrap();
        assert!(header.ends_with("LAST-ERROR  NOTE"), "{table}");
        assert!(row.starts_with("chunks-part-001  IDLE    ?"), "{table}");
        assert!(row.ends_with("-           idle: all 1 standby slot(s) are held by live processes (1a2b)"), "{table}");
        assert_eq!(header.find("NOTE"), row.find("idle:"), "columns are aligned:\n{table}");
    }

    #[test]
    fn the_json_says_why_a_shard_is_idle_and_omits_an_empty_note() {
        let json = to_json(&idle_shard(), &[None], &[None]);
        assert_eq!(json["shards"][0]["status"], "IDLE");
        assert_eq!(json["shards"][0]["note"], "idle: all 1 standby slot(s) are held by live processes (1a2b)");
        let mut primary = idle_shard();
        primary.shards[0].status = "PRIMARY".into();
        primary.shards[0].note.clear();
        assert!(to_json(&primary, &[None], &[None])["shards"][0]["note"].is_null());
    }
}
