//! `streamsum-host plugins reload` and `streamsum-host shards list`: the client side of
//! the host's `streamsum.Control` service (issue 7), as `gazctl.rs` is of
//! `protocol.Journal`. Gazette's `gazctl shards list` prints a similar table.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use tonic::transport::{Channel, Endpoint};

use super::control::{pb, ControlClient};

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
    /// The host's gRPC address.
    #[arg(long, env = "BROKER_ADDRESS", default_value = "http://127.0.0.1:8080", global = true)]
    pub broker: String,
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
}

/// How `shards list` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// One JSON document.
    Json,
}

async fn connect(url: &str) -> anyhow::Result<ControlClient<Channel>> {
    let endpoint = Endpoint::from_shared(url.to_string()).with_context(|| format!("--broker {url:?} is not a URL"))?;
    let channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connecting to the host at {url}"))?;
    Ok(ControlClient::new(channel))
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
    let ShardsCommand::List { format } = args.command;
    let mut client = connect(&args.broker).await?;
    let resp = client
        .list_shards(pb::ListShardsRequest {})
        .await
        .with_context(|| format!("ListShards on {}", args.broker))?
        .into_inner();
    let lags = lags(&args.broker, &resp).await;
    match format {
        Format::Json => println!("{}", to_json(&resp, &lags)),
        Format::Table => print!("{}", table(&resp, &lags)),
    }
    Ok(())
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

fn table(resp: &pb::ListShardsResponse, lags: &[Option<i64>]) -> String {
    let mut rows = vec![["ID", "STATUS", "PLUGIN", "READ-THROUGH", "LAG", "LAST-COMMIT", "SWAPS", "ROLLBACKS", "LAST-ERROR", "NOTE"]
        .map(String::from)
        .to_vec()];
    for (s, lag) in resp.shards.iter().zip(lags) {
        rows.push(vec![
            s.id.clone(),
            s.status.clone(),
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
    let widths: Vec<usize> = (0..10).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("current plugin {}; {} swaps, {} rollbacks\n", resp.plugin, resp.swaps, resp.rollbacks));
    out
}

fn to_json(resp: &pb::ListShardsResponse, lags: &[Option<i64>]) -> serde_json::Value {
    let shards: Vec<serde_json::Value> = resp
        .shards
        .iter()
        .zip(lags)
        .map(|(s, lag)| {
            serde_json::json!({
                "id": s.id,
                "status": s.status,
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
        let table = table(&idle_shard(), &[Some(0)]);
        let mut lines = table.lines();
        let header = lines.next().unwrap();
        let row = lines.next().unwrap();
        assert!(header.ends_with("LAST-ERROR  NOTE"), "{table}");
        assert!(row.starts_with("chunks-part-001  IDLE"), "{table}");
        assert!(row.ends_with("-           idle: all 1 standby slot(s) are held by live processes (1a2b)"), "{table}");
        assert_eq!(header.find("NOTE"), row.find("idle:"), "columns are aligned:\n{table}");
    }

    #[test]
    fn the_json_says_why_a_shard_is_idle_and_omits_an_empty_note() {
        let json = to_json(&idle_shard(), &[None]);
        assert_eq!(json["shards"][0]["status"], "IDLE");
        assert_eq!(json["shards"][0]["note"], "idle: all 1 standby slot(s) are held by live processes (1a2b)");
        let mut primary = idle_shard();
        primary.shards[0].status = "PRIMARY".into();
        primary.shards[0].note.clear();
        assert!(to_json(&primary, &[None])["shards"][0]["note"].is_null());
    }
}
