//! Generates the prost messages and the tonic client/server of Gazette's
//! `protocol.Journal` service from `proto/protocol.proto`, of the host's own
//! `streamsum.Control` service from `proto/control.proto`, and of the broker's
//! `streamsum.admin.Admin` service (pruning) from `proto/admin.proto`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/protocol.proto");
    println!("cargo:rerun-if-changed=proto/control.proto");
    println!("cargo:rerun-if-changed=proto/admin.proto");
    let protos = ["proto/protocol.proto", "proto/control.proto", "proto/admin.proto"];
    tonic_prost_build::configure().bytes(".").compile_protos(&protos, &["proto"])?;
    Ok(())
}
