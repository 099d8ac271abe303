//! Keeping a lease alive, and noticing when it is gone.
//!
//! What Gazette gets from etcd's `concurrency.Session`: a keep-alive stream renewing
//! the lease every third of its TTL, re-opened with backoff when it breaks, and a
//! signal once the lease is lost. The lease counts as lost at the *local* deadline —
//! the last renewal's send time plus the TTL etcd granted — or when etcd says it no
//! longer knows it. etcd expires a lease no earlier than that deadline (it counts
//! from when it received the renewal), so a member that stops serving at the signal
//! has stopped before another member can be given its assignments.

use std::collections::VecDeque;
use std::time::Duration;

use etcd_client::Client;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::backoff::backoff;

/// Gazette's default lease TTL (`--etcd.lease`): how long a member that vanished
/// keeps its assignments before others take them over.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(20);

/// Renewals per TTL (etcd's Go client renews every TTL / 3).
const RENEWALS_PER_TTL: u32 = 3;

/// A TTL as whole seconds for etcd: rounded up, at least 1.
pub(crate) fn ttl_seconds(ttl: Duration) -> i64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

/// How a keep-alive stream ended.
enum Ended {
    /// The lease is gone (the reason says how we know).
    Lost(String),
    /// The stream broke; the lease may still be alive.
    Broken(String),
}

/// Renews `lease` (granted for `ttl`, first due to expire at `deadline`) until it is
/// lost, then sets `lost` to true. Runs until then; abort it to stop renewing.
pub(crate) async fn keep_alive(client: Client, lease: i64, ttl: Duration, mut deadline: Instant, lost: watch::Sender<bool>) {
    let mut attempt = 0u32;
    let reason = loop {
        if attempt > 0 {
            let wake = Instant::now() + backoff(attempt);
            if wake >= deadline {
                sleep_until(deadline).await;
                break "etcd could not be reached before the lease's deadline".to_string();
            }
            sleep_until(wake).await;
        }
        match renew(&client, lease, ttl, &mut deadline, &mut attempt).await {
            Ended::Lost(reason) => break reason,
            Ended::Broken(error) => {
                attempt += 1;
                tracing::warn!(lease = format_args!("{lease:#x}"), attempt, %error, "lease keep-alive broke (will retry until the lease's deadline)");
            }
        }
    };
    tracing::error!(lease = format_args!("{lease:#x}"), %reason, "lease lost");
    lost.send_replace(true);
}

/// One keep-alive stream: renews every `ttl / 3` and moves `deadline` with each
/// answer, until the stream breaks or the lease is lost.
async fn renew(client: &Client, lease: i64, ttl: Duration, deadline: &mut Instant, attempt: &mut u32) -> Ended {
    let opened = Instant::now();
    let (mut keeper, mut stream) = match timeout_at(*deadline, client.lease_client().keep_alive(lease)).await {
        Err(_) => return Ended::Lost("no renewal before the lease's deadline".to_string()),
        Ok(Err(etcd_client::Error::LeaseKeepAliveError(e))) if e.contains("not found") => {
            return Ended::Lost("etcd no longer knows the lease (it expired or was revoked)".to_string())
        }
        Ok(Err(error)) => return Ended::Broken(error.to_string()),
        Ok(Ok(pair)) => pair,
    };
    // Opening the stream renewed the lease to its full TTL.
    *deadline = opened + ttl;
    *attempt = 0;
    let every = ttl / RENEWALS_PER_TTL;
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    let mut sent: VecDeque<Instant> = VecDeque::new();
    loop {
        tokio::select! {
            _ = sleep_until(*deadline) => return Ended::Lost("no renewal before the lease's deadline".to_string()),
            _ = ticks.tick() => {
                sent.push_back(Instant::now());
                if let Err(error) = keeper.keep_alive().await {
                    return Ended::Broken(error.to_string());
                }
            }
            message = stream.message() => match message {
                Ok(Some(response)) if response.ttl() <= 0 => {
                    return Ended::Lost("etcd answered that the lease expired".to_string());
                }
                Ok(Some(response)) => {
                    let at = sent.pop_front().unwrap_or(opened);
                    *deadline = at + Duration::from_secs(u64::try_from(response.ttl()).unwrap_or(0));
                }
                Ok(None) => return Ended::Broken("the keep-alive stream ended".to_string()),
                Err(error) => return Ended::Broken(error.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds_and_at_least_one() {
        let cases = [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (2500, 3), (20_000, 20)];
        for (millis, want) in cases {
            assert_eq!(ttl_seconds(Duration::from_millis(millis)), want, "{millis} ms");
        }
    }

    #[test]
    fn the_default_ttl_is_gazettes_20_seconds() {
        assert_eq!(DEFAULT_LEASE_TTL, Duration::from_secs(20));
    }
}
