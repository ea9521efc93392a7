//! Entry point: parse the command line, load settings, run the chosen subcommand.
use clap::Parser;

/// mimalloc instead of the system allocator: glibc's malloc and free took a fifth of the service's
/// CPU under load, its per-thread arenas kept bursts of connections resident, and it needed a
/// trimming thread to give memory back. mimalloc's thread-local free lists are cheaper, and it
/// returns freed pages to the system by itself shortly after.
///
/// Built with `no_thp` (Cargo.toml): mimalloc then never asks for transparent huge pages on its
/// heap, which kept a whole 2 MiB page resident for every partly used stretch (10 of the idle
/// service's 31 MiB and 39 MiB more under 256 connections, measured by the load bench; asking the
/// kernel at the start of `main` was too late for the 4 MiB mimalloc touches before it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(account_recovery::cli::run(account_recovery::cli::Cli::parse())),
        Err(e) => {
            eprintln!("account-recovery: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
