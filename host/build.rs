//! Generates the prost messages and the tonic client/server of Gazette's
//! `protocol.Journal` service from `proto/protocol.proto`, of the host's own
//! `streamsum.Control` service from `proto/control.proto`, of the broker's
//! `streamsum.admin.Admin` service (pruning) from `proto/admin.proto`, and of
//! Gazette's consumer `Shard` service from `proto/consumer.proto` (with the
//! recovery-log hints of `proto/recoverylog.proto`).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/protocol.proto");
    println!("cargo:rerun-if-changed=proto/control.proto");
    println!("cargo:rerun-if-changed=proto/admin.proto");
    println!("cargo:rerun-if-changed=proto/consumer.proto");
    println!("cargo:rerun-if-changed=proto/recoverylog.proto");
    let protos =
        ["proto/protocol.proto", "proto/control.proto", "proto/admin.proto", "proto/consumer.proto", "proto/recoverylog.proto"];
    tonic_prost_build::configure().bytes(".").compile_protos(&protos, &["proto"])?;
    Ok(())
}
