//! Connecting to etcd with the options the keyspace, leases and the allocator rely on.

use std::time::Duration;

use etcd_client::{Client, ConnectOptions};

use super::Error;

/// HTTP/2 pings on an idle connection: a peer that vanished without closing the
/// connection is noticed after about this plus [`PING_TIMEOUT`]. etcd refuses pings
/// more often than every 5 s (`--grpc-keepalive-min-time`).
pub const PING_INTERVAL: Duration = Duration::from_secs(10);
/// How long a ping may go unanswered before the connection is dropped.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to try to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of the etcd cluster at `endpoints` (`http://host:port`, any member).
///
/// Requests require the member to have a raft leader (Gazette's `WithRequireLeader`):
/// a member cut off from its majority fails watches instead of holding them open, so
/// the keyspace re-watches elsewhere. Connections are opened lazily: this succeeds
/// while etcd is down, and requests fail until it is back.
///
/// # Errors
/// [`Error::Etcd`] for an endpoint that is not a valid URI.
pub async fn connect(endpoints: &[impl AsRef<str>]) -> Result<Client, Error> {
    let options = ConnectOptions::new()
        .with_require_leader(true)
        .with_keep_alive(PING_INTERVAL, PING_TIMEOUT)
        .with_keep_alive_while_idle(true)
        .with_connect_timeout(CONNECT_TIMEOUT);
    let endpoints: Vec<&str> = endpoints.iter().map(|e| e.as_ref()).collect();
    Client::connect(&endpoints, Some(options)).await.map_err(Error::etcd(format!("connecting to {endpoints:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_are_no_more_frequent_than_etcd_accepts() {
        assert!(PING_INTERVAL >= Duration::from_secs(5), "etcd's default --grpc-keepalive-min-time is 5 s");
        assert!(PING_TIMEOUT < PING_INTERVAL);
    }
}
