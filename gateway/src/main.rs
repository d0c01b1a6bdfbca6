//! The `tongban` binary.

fn main() -> std::process::ExitCode {
    tongban_gateway::cli::main()
}
