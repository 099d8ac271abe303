//! streamsum-host: parses arguments and hands them to the library (`cli`).
//!
//! A failure is printed as one line, `Error: <what failed>: <why>`, with exit status 1
//! (never a backtrace, whatever RUST_BACKTRACE says: the line is for the operator).
use std::process::ExitCode;

fn main() -> ExitCode {
    match streamsum_host::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
