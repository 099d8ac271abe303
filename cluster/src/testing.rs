//! Test support: a real etcd on free ports, and a TCP link a test can cut.
//!
//! Behind the `testing` feature so the host's tests can use it too. [`EtcdServer`]
//! runs the `etcd` binary (Debian's `etcd-server`, installed by `scripts/setup.sh`)
//! as a single-member cluster with its data in a temporary directory (in `/dev/shm`
//! where there is one: etcd fsyncs every write), waits until it answers, and kills
//! it and removes the directory when dropped, also when a test panics. [`Link`]
//! forwards TCP to it and can drop every connection and refuse new ones, which is how
//! a test cuts a process off from etcd (its watch breaks, its lease is not renewed)
//! while the test itself still talks to etcd directly.

use std::fs::File;
use std::io;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use etcd_client::Client;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Environment variable naming the etcd binary, before `/usr/bin/etcd` and `PATH`.
pub const ETCD_BIN_ENV: &str = "STREAMSUM_ETCD_BIN";
/// How long a started etcd may take to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Starts tried before giving up (another process may take a port we picked).
const START_ATTEMPTS: u32 = 5;

/// Why an etcd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No etcd binary was found.
    #[error("etcd is not installed (looked for ${ETCD_BIN_ENV}, /usr/bin/etcd and etcd on PATH): run scripts/setup.sh, which installs Debian's etcd-server")]
    NotInstalled,
    /// Setting up or spawning failed.
    #[error("starting etcd: {0}")]
    Io(#[from] io::Error),
    /// etcd exited or did not answer in time.
    #[error("etcd did not become ready: {reason}; its log ends:\n{log}")]
    NotReady {
        /// What happened.
        reason: String,
        /// The tail of etcd's log.
        log: String,
    },
}

/// A running single-member etcd, killed (and its data removed) on drop.
pub struct EtcdServer {
    /// The etcd process.
    child: Child,
    /// `http://127.0.0.1:PORT`.
    endpoint: String,
    /// Its data directory and log; removed after the process is reaped.
    dir: tempfile::TempDir,
}

impl EtcdServer {
    /// Starts etcd on free loopback ports and waits until it serves requests.
    ///
    /// # Errors
    /// [`StartError::NotInstalled`] (run `scripts/setup.sh`), or a start that failed
    /// `START_ATTEMPTS` (5) times.
    pub async fn start() -> Result<EtcdServer, StartError> {
        let bin = etcd_binary().ok_or(StartError::NotInstalled)?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match EtcdServer::start_once(&bin).await {
                Ok(server) => return Ok(server),
                Err(error @ StartError::NotReady { .. }) => last = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last.unwrap_or(StartError::NotInstalled))
    }

    async fn start_once(bin: &Path) -> Result<EtcdServer, StartError> {
        let dir = match Path::new("/dev/shm").is_dir() {
            true => tempfile::Builder::new().prefix("streamsum-etcd-").tempdir_in("/dev/shm")?,
            false => tempfile::Builder::new().prefix("streamsum-etcd-").tempdir()?,
        };
        let (client_port, peer_port) = free_ports()?;
        let endpoint = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = File::create(dir.path().join("etcd.log"))?;
        let child = Command::new(bin)
            .args(["--name", "test", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &endpoint, "--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("test={peer}"), "--initial-cluster-state", "new"])
            .args(["--logger", "zap", "--log-level", "warn", "--log-outputs", "stderr"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = EtcdServer { child, endpoint, dir };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Polls a status call until etcd answers, the process exits, or the deadline.
    async fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let client = Client::connect([self.endpoint.as_str()], None).await.map_err(|e| self.not_ready(e.to_string()))?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(self.not_ready(format!("it exited ({status})")));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.not_ready(format!("no answer within {READY_TIMEOUT:?}")));
            }
            let mut maintenance = client.maintenance_client();
            if let Ok(Ok(_)) = tokio::time::timeout(remaining.min(Duration::from_secs(1)), maintenance.status()).await {
                return Ok(());
            }
            // Refused at once while etcd binds its ports: poll again shortly.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn not_ready(&self, reason: String) -> StartError {
        StartError::NotReady { reason, log: self.log_tail() }
    }

    /// The client URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// A client of this etcd, connected as [`crate::etcd::connect`] does.
    ///
    /// # Panics
    /// Never in practice: connecting is lazy and the endpoint is well-formed.
    pub async fn client(&self) -> Client {
        crate::etcd::connect(&[self.endpoint()]).await.expect("a client of a local endpoint")
    }

    /// The etcd process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The directory holding etcd's data and log (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines etcd logged.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `dir` is removed after this, once the process no longer writes to it.
    }
}

/// The etcd binary: `$STREAMSUM_ETCD_BIN`, `/usr/bin/etcd`, or `etcd` on `PATH`.
fn etcd_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os(ETCD_BIN_ENV) {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    let debian = PathBuf::from("/usr/bin/etcd");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("etcd")).find(|p| p.is_file())
}

/// Two distinct ports that were free a moment ago (etcd cannot bind port 0 and
/// report it, so we pick; a clash makes etcd exit and [`EtcdServer::start`] retry).
fn free_ports() -> io::Result<(u16, u16)> {
    let a = StdListener::bind("127.0.0.1:0")?;
    let b = StdListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A TCP forwarder to a target address that a test can cut and restore.
pub struct Link {
    /// `http://127.0.0.1:PORT` of the forwarder.
    endpoint: String,
    /// True while cut.
    cut: watch::Sender<bool>,
    /// The accepting task.
    task: JoinHandle<()>,
}

impl Link {
    /// Forwards a fresh loopback port to `target` (`http://host:port` or `host:port`).
    ///
    /// # Errors
    /// Binding the port failed.
    pub async fn start(target: &str) -> io::Result<Link> {
        let target = target.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (cut, _) = watch::channel(false);
        let task = tokio::spawn(accept(listener, target, cut.clone()));
        Ok(Link { endpoint, cut, task })
    }

    /// The forwarder's URL, to connect through.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Drops every forwarded connection and refuses new ones until [`Link::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards connections again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
        self.cut.send_replace(true); // Ends the forwarded connections too.
    }
}

async fn accept(listener: TcpListener, target: String, cut: watch::Sender<bool>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else { continue };
        if *cut.borrow() {
            drop(inbound); // Refused: the peer sees the connection reset.
            continue;
        }
        tokio::spawn(forward(inbound, target.clone(), cut.subscribe()));
    }
}

async fn forward(mut inbound: TcpStream, target: String, mut cut: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
