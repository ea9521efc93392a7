//! Entry point: parse the command line, load settings, run the chosen subcommand.
use clap::Parser;

/// mimalloc instead of the system allocator: glibc's malloc and free took a fifth of the service's
/// CPU under load, its per-thread arenas kept argon2's 19 MiB blocks and bursts of connections
/// resident, and it needed a trimming thread to give memory back. mimalloc's thread-local free
/// lists are cheaper, and it returns freed pages to the system by itself shortly after.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process. mimalloc asks for them on its heap segments, and
/// the kernel then keeps a whole 2 MiB page resident for a partly used stretch: a third of the
/// idle service's memory (10 of 31 MiB) and 39 MiB more under 256 connections, measured by the
/// load bench. The cost, a few more TLB misses, did not show in its throughput.
fn without_huge_pages() {
    // SAFETY: prctl(PR_SET_THP_DISABLE) takes plain integers and changes only this process's
    // memory policy; a kernel without it answers EINVAL, which changes nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> std::process::ExitCode {
    without_huge_pages();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(account_recovery::cli::run(account_recovery::cli::Cli::parse())),
        Err(e) => {
            eprintln!("account-recovery: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
