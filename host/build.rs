//! Generates the prost messages and the tonic client/server of Gazette's
//! `protocol.Journal` service from `proto/protocol.proto`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/protocol.proto");
    tonic_prost_build::configure().bytes(".").compile_protos(&["proto/protocol.proto"], &["proto"])?;
    Ok(())
}
