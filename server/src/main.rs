//! The `mooring` binary. Everything lives in the library so tests can start
//! the real server; see `mooring_server::cli`.

/// Requests allocate many small, short-lived objects (rendered HTML, JSON,
/// headers); mimalloc serves them from per-thread pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mooring_server::cli::main()
}
