//! The test support itself: a missing etcd is explained, and a started one is
//! killed, reaped and removed when its test ends, also by a panic.
//!
//! A binary of its own: it sets `STREAMSUM_ETCD_BIN`, which other tests must not see.

use std::path::Path;

use streamsum_cluster::testing::{EtcdServer, StartError, ETCD_BIN_ENV};

fn gone(pid: u32, dir: &Path) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists() && !dir.exists()
}

#[tokio::test]
async fn a_dropped_or_panicking_tests_etcd_is_killed_reaped_and_removed_and_a_missing_one_is_explained() {
    let etcd = EtcdServer::start().await.unwrap();
    let (pid, dir) = (etcd.pid(), etcd.dir().to_path_buf());
    assert!(!gone(pid, &dir), "running: pid {pid}, {}", dir.display());
    drop(etcd);
    assert!(gone(pid, &dir), "dropped: no process (not even a zombie) and no directory");

    let (tx, rx) = std::sync::mpsc::channel();
    let test = tokio::spawn(async move {
        let etcd = EtcdServer::start().await.unwrap();
        tx.send((etcd.pid(), etcd.dir().to_path_buf())).unwrap();
        panic!("a failing test");
    });
    assert!(test.await.unwrap_err().is_panic());
    let (pid, dir) = rx.recv().unwrap();
    assert!(gone(pid, &dir), "unwinding dropped it too");

    std::env::set_var(ETCD_BIN_ENV, "/nonexistent/etcd");
    match EtcdServer::start().await {
        Err(error @ StartError::NotInstalled) => assert!(error.to_string().contains("scripts/setup.sh"), "{error}"),
        Err(other) => panic!("expected NotInstalled, got {other}"),
        Ok(_) => panic!("started an etcd that does not exist"),
    }
}
