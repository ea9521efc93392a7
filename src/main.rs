//! Entry point: parse the command line, load settings, run the chosen subcommand.
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    account_recovery::cli::run(account_recovery::cli::Cli::parse()).await
}
