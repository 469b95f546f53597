//! Compiles the gateway↔sink contract with a vendored `protoc`, so a fresh machine needs no
//! system protobuf compiler.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=spanbridge/v1/events.proto");
    prost_build::Config::new()
        .btree_map(["."])
        .compile_protos(&["spanbridge/v1/events.proto"], &["."])?;
    Ok(())
}
