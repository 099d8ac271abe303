//! streamsum-host: parses arguments and hands them to the library (`cli`).
use clap::Parser;

fn main() -> anyhow::Result<()> {
    streamsum_host::cli::main_with(streamsum_host::cli::Cli::parse())
}
