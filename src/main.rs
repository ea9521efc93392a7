//! Entry point: parse the command line, load settings, run the chosen subcommand.
use clap::Parser;

fn main() -> std::process::ExitCode {
    tune_allocator();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(account_recovery::cli::run(account_recovery::cli::Cli::parse())),
        Err(e) => {
            eprintln!("account-recovery: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc's allocator gives each thread that allocates its own arena and, after a large block is
/// freed, raises its mmap threshold so that later large blocks (argon2's 19 MiB areas, big
/// bodies) come from those arenas and stay resident; memory freed inside a heap after a burst of
/// connections stays resident too. One arena (each thread still has its own cache of small
/// blocks), fixed thresholds (large blocks are mapped and unmapped), and a trim every few seconds
/// that hands free pages back keep the service's memory close to what it uses.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    const LARGE: libc::c_int = 256 * 1024;
    const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE);
        libc::mallopt(libc::M_TRIM_THRESHOLD, LARGE);
    }
    let _ = std::thread::Builder::new().name("malloc-trim".into()).spawn(|| {
        loop {
            std::thread::sleep(TRIM_EVERY);
            // SAFETY: malloc_trim only returns free pages to the system.
            unsafe { libc::malloc_trim(0) };
        }
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
