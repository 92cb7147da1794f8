//! The `mooring` binary. Everything lives in the library so tests can start
//! the real server; see `mooring_server::cli`.

fn main() -> std::process::ExitCode {
    mooring_server::cli::main()
}
