//! The [`Reloader`] (issue 7): which plugin version shards should run. A new build is
//! published, a version that fails to load is refused and remembered, a rolled-back
//! version returns the previous one to every follower and is not retried, and the
//! version already running is left alone.

use std::path::{Path, PathBuf};

use streamsum_host::runtime::{ComponentCache, PluginEngine, PluginVersion, Refusal, Reloaded, Reloader, SummerPlugin};

fn guest_summer() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let target = exe.ancestors().nth(3).expect("target directory").to_path_buf();
    let path = target.join("wasm/guest_summer.wasm");
    assert!(path.exists(), "{} not found: run scripts/build-guests.sh", path.display());
    path
}

/// The summer with a custom section holding `n`: a distinct, valid build.
fn variant(base: &[u8], n: u8) -> Vec<u8> {
    let mut out = base.to_vec();
    out.extend_from_slice(&[0, 3, 1, b'v', n]);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_published_refused_rolled_back_and_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ComponentCache::new(PluginEngine::new().unwrap(), dir.path().join("cache"));
    let base = std::fs::read(guest_summer()).unwrap();
    let a = SummerPlugin::load_blocking(&cache, &base, "a").unwrap();
    let reloader = Reloader::new(cache, a.clone());
    let mut follower = reloader.subscribe();
    follower.mark_unchanged();

    // The file of the version already running: nothing happens.
    let a_path = write(dir.path(), "a.wasm", &base);
    assert_eq!(reloader.reload(&a_path).await.unwrap(), Reloaded::Unchanged(a.version().clone()));
    assert!(!follower.has_changed().unwrap());

    // A new build is published to followers.
    let b_bytes = variant(&base, 1);
    let b = PluginVersion::of(&b_bytes);
    let b_path = write(dir.path(), "b.wasm", &b_bytes);
    assert_eq!(reloader.reload(&b_path).await.unwrap(), Reloaded::Swapped(b.clone()));
    assert!(follower.has_changed().unwrap());
    assert_eq!(follower.borrow_and_update().version(), &b);
    assert_eq!((reloader.swaps(), reloader.rollbacks()), (1, 0));

    // Its first transaction failed on a shard: every follower gets A back, once.
    assert_eq!(&reloader.roll_back(&b, "trap on shard x"), a.version());
    assert_eq!(follower.borrow_and_update().version(), a.version());
    assert_eq!(&reloader.roll_back(&b, "trap on shard y"), a.version());
    assert_eq!(reloader.rollbacks(), 1, "a second shard reporting the same version is not a second rollback");
    assert!(!follower.has_changed().unwrap());

    // The same bytes are not retried; changed bytes are.
    match reloader.reload(&b_path).await.unwrap_err() {
        Refusal::Version { version, reason, .. } => {
            assert_eq!(version, b.to_string());
            assert!(reason.contains("failed before") && reason.contains("trap on shard x"), "{reason}");
        }
        other => panic!("{other}"),
    }
    let c_bytes = variant(&base, 2);
    let c_path = write(dir.path(), "c.wasm", &c_bytes);
    assert_eq!(reloader.reload(&c_path).await.unwrap(), Reloaded::Swapped(PluginVersion::of(&c_bytes)));

    // A file that is not a component is refused by name, and remembered.
    let junk = write(dir.path(), "junk.wasm", b"definitely not wasm");
    let first = reloader.reload(&junk).await.unwrap_err().to_string();
    assert!(first.contains(&junk.display().to_string()) && first.contains("is not a WebAssembly file"), "{first}");
    let again = reloader.reload(&junk).await.unwrap_err().to_string();
    assert!(again.contains("failed before"), "{again}");
    assert_eq!(reloader.current().version(), &PluginVersion::of(&c_bytes));
    assert_eq!((reloader.swaps(), reloader.rollbacks()), (2, 1));
}
