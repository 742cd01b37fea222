//! `dezky-jobs`: the one binary. Parses the command line and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = dezky_cli::config::Cli::parse();
    match dezky_cli::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dezky-jobs: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
