//! Compiles every `.proto` under `/proto` with protox (pure Rust, no protoc) and feeds the
//! descriptors to tonic's code generator. The encoded descriptor set is kept for reflection.
//!
//! The example backend's own API (`examples/proto/`) is generated here too, apart: it stays out
//! of the descriptor set and out of the library, and only `examples/protected_service.rs` (and the
//! test that runs it) include it.

use std::path::{Path, PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let descriptors = compile(&manifest_dir.join("../proto"))?;
    std::fs::write(out_dir.join("descriptor_set.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;

    let example_descriptors = compile(&manifest_dir.join("examples/proto"))?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(example_descriptors)?;
    Ok(())
}

/// Every `.proto` under `root`, compiled with `root` as the import path.
fn compile(root: &Path) -> Result<tonic_prost_build::FileDescriptorSet, Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect_protos(root, &mut files)?;
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(protox::compile(&files, [root])?)
}

fn collect_protos(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, found)?;
        } else if path.extension().is_some_and(|extension| extension == "proto") {
            found.push(path);
        }
    }
    Ok(())
}
