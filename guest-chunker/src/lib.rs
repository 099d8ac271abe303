//! `guest_chunker.wasm`: Gazette's stream-sum chunker as a wasm32-wasip2 component.
//!
//! Mirrors `examples/stream-sum/chunker.go` (reference §6.3): a worker publishes
//! streams of chunks, committed, to the chunk partitions (the host routes each chunk
//! by its stream id), interleaving its open streams at random, and after each
//! stream's final empty chunk waits for the summer's Sum and checks it — right
//! `SeqNo` and SHA-1, exactly once, within the SLA — failing the run otherwise. In
//! files mode each configured file is one stream and the report lists the Sum the
//! summer published for it. World `chunker` of `wit/streamsum.wit`.
//!
//! Layout: [`worker`] is the loop; [`schedule`] the interleaving; [`stream`] one
//! stream's chunks; [`verify`] the wait for a Sum; [`report`] the percentiles;
//! [`env`] the host behind a trait (so the loop is unit-tested with a simulated
//! clock); [`rng`] the data generator.

mod env;
mod report;
mod rng;
mod schedule;
mod stream;
mod verify;
mod worker;
#[cfg(test)]
mod tests;

// The test build generates the `chunker-tests` world (`chunker` plus the runner's
// `testing` interface); both worlds produce the same module paths.
#[cfg(not(test))]
wit_bindgen::generate!({ world: "chunker", path: "../wit" });
#[cfg(test)]
wit_bindgen::generate!({ world: "chunker-tests", path: "../wit" });


/// The exported component.
struct Component;

impl Guest for Component {
    fn run(config: ChunkerConfig) -> Result<Report, String> {
        let mut rng = rng::Rng::from_entropy()?;
        let mut env = env::WitEnv::new();
        worker::run(&mut env, &mut rng, &config).map_err(|e| format!("chunker worker {}: {e}", config.worker))
    }
}

export!(Component);
