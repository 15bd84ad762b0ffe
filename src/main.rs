//! The `chainsleuth` binary; everything lives in the `chainsleuth-cli` crate.

/// mimalloc instead of the system allocator: see the workspace's Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chainsleuth_cli::main()
}
