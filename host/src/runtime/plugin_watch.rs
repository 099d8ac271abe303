//! The reload triggers: changes to the `--app` file, and SIGHUP (issue 7).
//!
//! The file is watched with Linux inotify on its directory, so both a rebuild that
//! rewrites it in place (`IN_CLOSE_WRITE`: the writer closed it, the write is complete)
//! and one that writes a temporary file and renames it over the plugin
//! (`IN_MOVED_TO`) are seen, once, when complete. SIGHUP asks for a reload of the same
//! path, as it makes many daemons reread their configuration. Each trigger calls
//! [`Reloader::reload`]; a refusal is logged (the request came from no one who could
//! be answered). No Gazette counterpart.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use crate::shutdown::stopped;

use super::reload::{Reloaded, Reloader};

/// Watches `app` and SIGHUP until `shutdown`, reloading through `reloader`.
///
/// # Errors
/// The watch or the signal handler could not be installed (at start only).
pub fn spawn(
    reloader: Arc<Reloader>,
    app: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut watcher = DirWatch::new(&app)?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    Ok(tokio::spawn(async move {
        loop {
            let why = tokio::select! {
                changed = watcher.changed() => match changed {
                    Ok(()) => "the file changed",
                    Err(e) => {
                        tracing::error!(plugin = %app.display(), error = format!("{e:#}"), "watching the plugin file failed; reload with SIGHUP or `plugins reload`");
                        stopped(&mut shutdown).await;
                        return;
                    }
                },
                _ = hup.recv() => "SIGHUP",
                _ = stopped(&mut shutdown) => return,
            };
            match reloader.reload(&app).await {
                Ok(Reloaded::Swapped(v)) => {
                    tracing::info!(plugin = %app.display(), version = %v, trigger = why, "reload accepted")
                }
                Ok(Reloaded::Unchanged(v)) => {
                    tracing::debug!(plugin = %app.display(), version = %v, trigger = why, "plugin unchanged")
                }
                Err(refusal) => tracing::warn!(trigger = why, "{refusal}"),
            }
        }
    }))
}

/// An inotify watch on a file's directory, reporting completed writes and renames of
/// that one file.
struct DirWatch {
    /// The inotify descriptor, non-blocking, registered with tokio.
    fd: AsyncFd<OwnedFd>,
    /// The watched file's name within the directory.
    name: OsString,
}

impl DirWatch {
    fn new(file: &Path) -> anyhow::Result<Self> {
        let name = file.file_name().with_context(|| format!("--app {} names no file", file.display()))?.to_owned();
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // SAFETY: plain syscalls; the descriptor is owned by `OwnedFd` from here on.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("inotify_init1");
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let cdir = CString::new(dir.as_os_str().as_bytes()).context("directory name with a NUL byte")?;
        let mask = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO;
        // SAFETY: `cdir` is a valid C string and `fd` an inotify descriptor.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), cdir.as_ptr(), mask) } < 0 {
            let e = std::io::Error::last_os_error();
            bail!("watching directory {} of --app: {e}", dir.display());
        }
        // SAFETY: the descriptor is owned here and deregistered (by drop) before it closes.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
            .context("registering the inotify descriptor")?;
        Ok(DirWatch { fd, name })
    }

    /// Resolves once a write of the file completed or a file was renamed onto it.
    async fn changed(&mut self) -> anyhow::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let mut guard = self.fd.readable().await.context("waiting on inotify")?;
            // SAFETY: reading into a buffer we own, of the length given.
            let n = unsafe { libc::read(self.fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    guard.clear_ready();
                    continue;
                }
                return Err(e).context("reading inotify events");
            }
            if names(&buf[..n as usize]).contains(&self.name) {
                return Ok(());
            }
        }
    }
}

/// The file names of the inotify events in `buf` (`struct inotify_event` records:
/// wd, mask, cookie, len, then `len` bytes of NUL-padded name).
fn names(mut buf: &[u8]) -> Vec<OsString> {
    const HEADER: usize = 16;
    let mut out = Vec::new();
    while buf.len() >= HEADER {
        let len = u32::from_ne_bytes([buf[12], buf[13], buf[14], buf[15]]) as usize;
        let end = (HEADER + len).min(buf.len());
        let raw = &buf[HEADER..end];
        let name = raw.split(|b| *b == 0).next().unwrap_or_default();
        out.push(OsString::from_vec(name.to_vec()));
        buf = &buf[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completed_writes_and_renames_of_the_file_are_seen_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app.wasm");
        std::fs::write(&app, b"one").unwrap();
        let mut watch = DirWatch::new(&app).unwrap();
        std::fs::write(dir.path().join("other.wasm"), b"x").unwrap();
        std::fs::write(&app, b"two").unwrap();
        watch.changed().await.unwrap();
        let tmp = dir.path().join("app.wasm.tmp");
        std::fs::write(&tmp, b"three").unwrap();
        std::fs::rename(&tmp, &app).unwrap();
        watch.changed().await.unwrap();
        assert_eq!(std::fs::read(&app).unwrap(), b"three");
    }
}
