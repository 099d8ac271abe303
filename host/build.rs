//! Generates the prost messages and the tonic client/server of Gazette's
//! `protocol.Journal` service from `proto/protocol.proto`, and of the host's own
//! `streamsum.Control` service from `proto/control.proto`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/protocol.proto");
    println!("cargo:rerun-if-changed=proto/control.proto");
    tonic_prost_build::configure()
        .bytes(".")
        .compile_protos(&["proto/protocol.proto", "proto/control.proto"], &["proto"])?;
    Ok(())
}
