//! Entry point: parse the command line, load settings, run the chosen subcommand.
use clap::Parser;

/// mimalloc instead of the system allocator: glibc's malloc and free took a fifth of the service's
/// CPU under load, its per-thread arenas kept argon2's 19 MiB blocks and bursts of connections
/// resident, and it needed a trimming thread to give memory back. mimalloc's thread-local free
/// lists are cheaper, and it returns freed pages to the system by itself shortly after.
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
