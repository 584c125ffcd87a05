//! Compiles the .proto sources with protox (pure Rust, no system protoc) and
//! writes the descriptor set that gRPC reflection serves.
use prost::Message as _;

const PROTOS: &[&str] = &[
    "sanshi/events/v1/events.proto",
    "sanshi/identity/v1/identity.proto",
    "sanshi/identity/v1/events.proto",
    "sanshi/qualification/v1/qualification.proto",
    "sanshi/matching/v1/matching.proto",
    "sanshi/records/v1/records.proto",
    "sanshi/incentive/v1/incentive.proto",
    "sanshi/notification/v1/notification.proto",
    "sanshi/gateway/v1/stats.proto",
    "sanshi/federation/v1/federation.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=sanshi");
    let fds = protox::compile(PROTOS, ["."])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("sanshi_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
