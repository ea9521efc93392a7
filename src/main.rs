//! Entry point: parse the command line, load settings, run the chosen subcommand.
use clap::Parser;

/// jemalloc, because glibc's malloc cost CPU and mimalloc kept burst memory resident: one arena,
/// small objects only in thread caches, freed pages returned within 0.5 s even when idle.
/// `_RJEM_MALLOC_CONF` overrides the options; docs/PERFORMANCE.md has the measurements.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options from this C string (`const char *malloc_conf`) at start-up.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8; 85] =
    b"narenas:1,tcache_max:4096,dirty_decay_ms:500,muzzy_decay_ms:0,background_thread:true\0";

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
