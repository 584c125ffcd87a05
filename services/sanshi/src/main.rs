//! `sanshi`: the one binary of the platform. See `sanshi --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::memory::return_large_blocks();
    let cli = sanshi::Cli::parse();
    match sanshi::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sanshi: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
