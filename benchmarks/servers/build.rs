//! Compiles proto/bench.proto into the gRPC server's Rust code. protoc comes from the
//! protoc-bin-vendored crate, so building needs nothing installed beyond cargo.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // prost-build runs the protoc named by PROTOC. A build script is single-threaded, so setting
    // the variable here races with nothing.
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(false)
        // Byte fields as bytes::Bytes: decoding slices the received buffer instead of copying it.
        .bytes(".")
        .compile_protos(&["proto/bench.proto"], &["proto"])?;
    Ok(())
}
