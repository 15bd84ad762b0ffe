//! The `chainsleuth` binary; everything lives in the `chainsleuth-cli` crate.

fn main() -> std::process::ExitCode {
    chainsleuth_cli::main()
}
