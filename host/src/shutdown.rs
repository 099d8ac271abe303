//! How a process is asked to stop, and how its tasks learn of it.
//!
//! The main service, the broker and the chunker job wait on [`signal`] (the first
//! SIGINT or SIGTERM), then flip a `watch::Sender<bool>` to true; every long-lived
//! task holds the receiver and `select!`s on [`stopped`] (mini-redis's `Shutdown`).

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

/// Resolves once shutdown is requested (the value is or turns true) or its sender is
/// gone.
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Sleeps for `delay`; true if shutdown was requested meanwhile (or before).
pub async fn sleep_or_stopped(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = stopped(shutdown) => return true,
    }
    *shutdown.borrow()
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}
