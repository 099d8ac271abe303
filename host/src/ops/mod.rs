//! Operating the host: metrics, logs, configuration and the status page (issue 10).
//!
//! - `crate::metrics` (re-exported here as [`metrics`] and [`registry`]): a Prometheus
//!   registry and the host's metric names,
//!   recorded by one-line calls in the transaction loop and by [`metered`] appends;
//! - [`collect`]: shard status and journal write heads gathered per request, and
//!   [`history`], the charts' samples (one per second);
//! - [`http`]: `/metrics`, `/api/status` and the status page on `--metrics-listen`;
//! - [`logging`]: `tracing` setup (text or JSON lines, levels);
//! - [`config`]: `--config FILE` and `print-config` (flag values are parsed and range
//!   checked in `crate::flags`).
//!
//! Gazette spreads the same concerns over `broker/metrics.go`, `consumer/metrics.go`,
//! `mainboilerplate/` (logging, flags, config files) and its `/debug` HTTP handlers.
pub mod collect;
pub mod config;
pub mod history;
pub mod http;
pub mod logging;
pub mod metered;

pub use collect::StatusSource;
pub use http::OpsServer;
pub use metered::MeteredClient;
pub use crate::metrics;
pub use crate::metrics::registry;
