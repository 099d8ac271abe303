//! The WASI a guest gets: random and clocks, stdio into the host log, and nothing else.
//!
//! DESIGN §9 "no ambient authority": no preopened directories, no environment
//! variables, no arguments, no network. The filesystem and sockets interfaces are not
//! even linked, so a component that imports them is refused at load, naming the import
//! (issue 8), instead of failing later at run time. Stdout and stderr are line-buffered
//! into the guest's [`GuestLog`], tagged and budgeted like `log` lines. No Gazette
//! counterpart.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, io, random, sync};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiView};

use super::bindings::log::Level;
use super::log_host::GuestLog;

/// A WASI context with no filesystem, network, environment or arguments, whose stdout
/// and stderr go to `log`.
pub fn sandboxed_ctx(log: &Arc<GuestLog>) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(GuestOutput::new(log.clone(), "stdout", Level::Info))
        .stderr(GuestOutput::new(log.clone(), "stderr", Level::Warn))
        // Not linked at all (see `add_to_linker`); denied here too as a second wall.
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    builder.build()
}

/// Adds the WASI interfaces guests may use to `linker`: io, clocks, random and cli
/// (exit, environment, stdio, terminals). Not filesystem, not sockets.
///
/// # Errors
/// A name is already defined in `linker`.
pub fn add_to_linker<T: WasiView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    io::error::add_to_linker::<T, HasSelf<ResourceTable>>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<T, HasSelf<ResourceTable>>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<T, HasSelf<ResourceTable>>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    Ok(())
}

/// A guest output stream (stdout or stderr) that writes whole lines into the guest log.
#[derive(Clone)]
pub struct GuestOutput {
    /// The log the lines go to.
    log: Arc<GuestLog>,
    /// `stdout` or `stderr`, tagged on each line.
    source: &'static str,
    /// The level of this stream's lines.
    level: Level,
    /// Bytes of the current, unfinished line (shared by all handles of the stream).
    partial: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    fn new(log: Arc<GuestLog>, source: &'static str, level: Level) -> Self {
        Self {
            log,
            source,
            level,
            partial: Arc::default(),
        }
    }

    /// Appends `bytes`, logging every completed line. An unfinished line longer than
    /// twice the line limit is logged (truncated) as is, so the buffer stays bounded.
    fn write_bytes(&self, bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            if let Some(line) = chunk.strip_suffix(b"\n") {
                partial.extend_from_slice(line);
                self.emit(&mut partial);
            } else {
                let room = (2 * self.log.line_bytes()).saturating_sub(partial.len());
                partial.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if partial.len() >= 2 * self.log.line_bytes() {
                    self.emit(&mut partial);
                }
            }
        }
    }

    /// Logs and clears the buffered line.
    fn emit(&self, partial: &mut Vec<u8>) {
        let text = String::from_utf8_lossy(partial);
        self.log.line(self.source, self.level, text.trim_end_matches('\r'));
        partial.clear();
    }

    /// Logs the unfinished line, if any.
    fn flush_partial(&self) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        if !partial.is_empty() {
            self.emit(&mut partial);
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Capacity announced to the guest per write; the stream never blocks.
const WRITE_PERMIT: usize = 64 << 10;

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.flush_partial();
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_partial();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::limits::Limits;
    use crate::runtime::test_log::capture;

    #[test]
    fn output_is_logged_line_by_line_with_its_tags() {
        let log = GuestLog::new("chunks-part-003", "0123456789ab", &Limits::default());
        let mut out = GuestOutput::new(log, "stdout", Level::Info);
        let text = capture(|| {
            OutputStream::write(&mut out, Bytes::from_static(b"hello\nwor")).unwrap();
            OutputStream::write(&mut out, Bytes::from_static(b"ld\r\nunfinished")).unwrap();
            OutputStream::flush(&mut out).unwrap();
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        for (line, want) in lines.iter().zip(["hello", "world", "unfinished"]) {
            assert!(line.contains(want), "{line}");
            assert!(line.contains("shard=\"chunks-part-003\""), "{line}");
            assert!(line.contains("plugin=\"0123456789ab\""), "{line}");
            assert!(line.contains("source=\"stdout\""), "{line}");
        }
    }

    #[test]
    fn an_endless_line_is_cut_and_does_not_grow_the_buffer() {
        let limits = Limits {
            log_line_bytes: 10,
            ..Limits::default()
        };
        let log = GuestLog::new("s", "v", &limits);
        let mut out = GuestOutput::new(log, "stderr", Level::Warn);
        let text = capture(|| {
            for _ in 0..100 {
                OutputStream::write(&mut out, Bytes::from_static(b"0123456789")).unwrap();
            }
        });
        // 1000 bytes without a newline: emitted every 20 buffered bytes, each cut to 10.
        assert_eq!(text.lines().count(), 50, "{text}");
        assert!(
            text.lines().all(|l| l.contains("0123456789… [10 bytes truncated]")),
            "{text}"
        );
        assert!(out.partial.lock().unwrap().is_empty());
    }
}
