//! `streamsum-host journals …`: a small gazctl over any Gazette-protocol broker.
//!
//! Mirrors gazctl's `journals list`, `journals read`, `journals append` and
//! `journals apply` (`cmd/gazctl/gazctlcmd/journals_*.go`) on top of
//! [`GrpcJournalClient`], so it works against our broker and Gazette's alike.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use futures::StreamExt;

use crate::journal::selector::parse_selector;
use crate::journal::journalspace::{parse_journal_tree, JournalChange};
use crate::journal::{AppendRequest, ApplyChange, JournalClient, JournalError, ReadRequest};

use super::GrpcJournalClient;

/// Arguments of `streamsum-host journals`.
#[derive(Debug, Args)]
pub struct JournalsArgs {
    /// Broker URL.
    #[arg(long, env = "BROKER_ADDRESS", default_value = "http://127.0.0.1:8080", global = true)]
    pub broker: String,
    /// The journals command.
    #[command(subcommand)]
    pub command: JournalsCommand,
}

/// `journals` subcommands.
#[derive(Debug, Subcommand)]
pub enum JournalsCommand {
    /// List journals (name, write head, mod revision, labels).
    List {
        /// Label selector, e.g. `app.gazette.dev/message-type=stream_sum.Chunk` or `prefix=examples/`.
        #[arg(long, short = 'l', env = "JOURNALS_SELECTOR", default_value = "")]
        selector: String,
        /// Output: an aligned `table` (journal, labels, write head), `json` (one object
        /// per journal and line, for scripts), or `tsv` (name, write head, mod revision,
        /// labels; tab-separated, no header).
        #[arg(long, env = "JOURNALS_FORMAT", value_enum, default_value_t = super::list_format::ListFormat::Table)]
        format: super::list_format::ListFormat,
        /// Same as `--format json`.
        #[arg(long, env = "JOURNALS_JSON", hide = true)]
        json: bool,
    },
    /// Copy a journal's content to stdout.
    Read {
        /// The journal.
        journal: String,
        /// First offset (-1: the write head).
        #[arg(long, env = "JOURNALS_OFFSET", default_value_t = 0, allow_negative_numbers = true)]
        offset: i64,
        /// Wait for new content at the head instead of stopping there.
        #[arg(long, env = "JOURNALS_BLOCK")]
        block: bool,
        /// Stop at this offset (0: no end).
        #[arg(long, env = "JOURNALS_END_OFFSET", default_value_t = 0)]
        end_offset: i64,
        /// Print only committed messages (read-committed, exactly once, no ACKs) of a
        /// JSON-lines journal; bad lines are reported on stderr and skipped.
        #[arg(long, env = "JOURNALS_COMMITTED", conflicts_with = "end_offset")]
        committed: bool,
    },
    /// Append stdin to a journal as one atomic append; prints where it landed.
    Append {
        /// The journal.
        journal: String,
    },
    /// Delete a journal's whole fragments that end at or before --before (a streamsum
    /// extension, `streamsum.admin.Admin/PruneFragments`); prints what was removed and
    /// the journal's new low-water mark.
    Prune {
        /// The journal.
        journal: String,
        /// Fragments ending at or before this offset are deleted.
        #[arg(long, env = "JOURNALS_PRUNE_BEFORE")]
        before: i64,
    },
    /// Create, update or delete journals from a YAML or JSON list of specs.
    Apply {
        /// The file: gazctl's journal tree (`name:`, shared fields, `children:`; a node
        /// with `delete: true` deletes its journals) or a list of journal specs.
        file: PathBuf,
    },
}

/// Runs a `journals` subcommand.
pub async fn run(args: JournalsArgs) -> anyhow::Result<()> {
    let client = GrpcJournalClient::new(&args.broker)?;
    match args.command {
        JournalsCommand::List { selector, format, json } => {
            let format = if json { super::list_format::ListFormat::Json } else { format };
            list(&client, &selector, format).await
        }
        JournalsCommand::Read { journal, offset, block, committed: true, .. } => {
            crate::message::reader::print_committed(std::sync::Arc::new(client), &journal, offset, block).await
        }
        JournalsCommand::Read { journal, offset, block, end_offset, .. } => {
            read(&client, ReadRequest { journal, offset, block, end_offset }).await
        }
        JournalsCommand::Append { journal } => append(&client, journal).await,
        JournalsCommand::Apply { file } => apply(&client, &file).await,
        JournalsCommand::Prune { journal, before } => {
            let r = client.prune(&journal, before).await.with_context(|| format!("pruning journal {journal:?} before offset {before}"))?;
            println!("{}", super::admin::prune_report(&r));
            Ok(())
        }
    }
}

async fn list(client: &GrpcJournalClient, selector: &str, format: super::list_format::ListFormat) -> anyhow::Result<()> {
    let sel = parse_selector(selector).with_context(|| format!("--selector {selector:?}"))?;
    let journals = client.list_known_heads(sel).await.with_context(|| format!("listing journals on the broker ({selector:?})"))?;
    let text = super::list_format::render(&journals, format);
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}

async fn read(client: &GrpcJournalClient, req: ReadRequest) -> anyhow::Result<()> {
    let journal = req.journal.clone();
    let mut stream = client.read(req);
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => match out.write_all(&c.content) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                r => r.context("writing to stdout")?,
            },
            Err(JournalError::OffsetNotYetAvailable { .. }) => break, // reached the head
            Err(e) => return Err(e).with_context(|| format!("reading journal {journal:?}")),
        }
    }
    out.flush()?;
    Ok(())
}

async fn append(client: &GrpcJournalClient, journal: String) -> anyhow::Result<()> {
    let mut content = Vec::new();
    std::io::stdin().read_to_end(&mut content).context("reading stdin")?;
    let r = client
        .append(AppendRequest::new(journal.clone(), content))
        .await
        .with_context(|| format!("appending to journal {journal:?}"))?;
    let sha1: String = r.sha1.iter().map(|b| format!("{b:02x}")).collect();
    println!("{}", serde_json::json!({"journal": r.journal, "begin": r.begin, "end": r.end, "sha1": sha1}));
    Ok(())
}

async fn apply(client: &GrpcJournalClient, file: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let value = super::yaml::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let entries = parse_journal_tree(&value).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let current = client.list(Default::default()).await.context("listing current journals")?;
    let revision_of = |name: &str| current.iter().find(|j| j.spec.name == name).map(|j| j.mod_revision);
    let changes: Vec<ApplyChange> = entries
        .into_iter()
        .map(|e| match e {
            JournalChange::Delete(journal) => {
                ApplyChange::Delete { expect_mod_revision: revision_of(&journal).unwrap_or(-1), journal }
            }
            JournalChange::Upsert(spec) => {
                ApplyChange::Upsert { expect_mod_revision: revision_of(&spec.name).unwrap_or(0), spec }
            }
        })
        .collect();
    let n = changes.len();
    let revision = client.apply(changes).await.with_context(|| format!("applying {}", file.display()))?;
    println!("applied {n} change(s) at revision {revision}");
    Ok(())
}
