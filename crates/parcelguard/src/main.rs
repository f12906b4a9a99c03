//! The `parcelguard` command line: parses arguments, loads configuration,
//! sets up logging and dispatches to the subcommands in [`commands`].

mod access_cmds;
mod cli;
mod commands;
mod demo;
mod log_cmds;
mod numbers_cmds;
mod risk_cmds;
mod vault_cmds;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

// The server's request path allocates many small, short-lived buffers
// across threads; glibc's malloc spent ~9% of a reveal's CPU on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // Error chains never hold personal data: libraries name places
            // (file, line, field), not values.
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::from(2)
        }
    }
}
