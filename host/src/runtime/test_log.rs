//! Test support: captures what the code under test logs through `tracing`.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Runs `f` with a `tracing` subscriber that records every event (all levels, no
/// colours, no timestamps); returns the recorded text, one event per line.
pub fn capture(f: impl FnOnce()) -> String {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || SharedWriter(writer.clone()))
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buf.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// A `Write` into the shared capture buffer.
struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
