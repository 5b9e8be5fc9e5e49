//! Compiles `proto/bilibili_live.proto` into Rust types with prost.
//!
//! protox parses the .proto in pure Rust, so building needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/bilibili_live.proto");
    let fds = protox::compile(["proto/bilibili_live.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
