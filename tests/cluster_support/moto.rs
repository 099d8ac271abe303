//! moto's S3-compatible server (installed by `scripts/setup.sh` in a venv), started on
//! a free loopback port for a test and killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

/// The `moto_server` that `scripts/setup.sh` installs (or `$STREAMSUM_MOTO`).
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("STREAMSUM_MOTO") {
        return p.into();
    }
    let venv = std::env::var_os("STREAMSUM_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/streamsum/moto"));
    venv.join("bin/moto_server")
}

impl Moto {
    /// Starts the server and creates `bucket` in it.
    pub fn start(bucket: &str, log: &std::path::Path) -> Moto {
        let bin = binary();
        assert!(bin.exists(), "{} is missing: run scripts/setup.sh (it installs moto for the S3 tests)", bin.display());
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        // The server has no readiness signal but its port: connect until it answers.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {port} within 30 s: {}", std::fs::read_to_string(log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(20));
        }
        moto.request(&format!("PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
        moto
    }

    /// Sends a raw HTTP request and asserts a 2xx answer.
    fn request(&self, req: &str) {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 2") || answer.starts_with("HTTP/1.0 2"), "moto answered {answer:?} to {req:?}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
