//! Compiles proto/attend/events/v1/*.proto with protox (pure Rust, no system protoc).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    println!("cargo:rerun-if-changed={proto_root}");
    let files = [
        "attend/events/v1/common.proto",
        "attend/events/v1/appointment.proto",
        "attend/events/v1/reminder.proto",
    ];
    let descriptors = protox::compile(files, [proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
