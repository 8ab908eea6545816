//! Compiles proto/attend/events/v1/*.proto with protox (pure Rust, no system protoc).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not baked in with env!(): a build script binary may be reused for
    // another checkout of the workspace sharing the target directory.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let proto_root = format!("{manifest_dir}/../../proto");
    println!("cargo:rerun-if-changed={proto_root}");
    let files = [
        "attend/events/v1/common.proto",
        "attend/events/v1/appointment.proto",
        "attend/events/v1/reminder.proto",
        "attend/events/v1/tenant.proto",
        "attend/events/v1/subscriber.proto",
    ];
    let descriptors = protox::compile(files, [&proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
