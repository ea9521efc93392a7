//! Entry point: parse the command line, load settings, run the chosen subcommand.
use clap::Parser;

/// jemalloc instead of the system allocator: glibc's malloc and free took a fifth of the service's
/// CPU under load and its per-thread arenas kept bursts of connections resident. mimalloc (used
/// before) was as fast, but its 64 KiB pages stayed resident for each long-lived block a burst
/// left among them: 1.3 MiB live kept 19.5 MiB of anonymous memory resident after a burst of 256
/// connections of `findId`, where jemalloc with the settings below keeps 6.6 (live bytes counted
/// by a wrapping allocator, RSS from /proc). The settings: one arena (this service has two busy
/// threads; its hashing areas are mapped apart, infra/hash_memory.rs), small objects only in the
/// thread caches, freed pages given back within half a second by a background thread even when
/// the service is idle.
/// `_RJEM_MALLOC_CONF` in the environment overrides them.
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
