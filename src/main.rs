//! gorefs: what is keeping this memory alive?
//!
//! A thin command line over `gocore`: parse arguments, load and analyse the
//! core, hand the analysis to a report in `report/`, print one clear line on
//! error.

mod cli;
mod report;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`gorefs objects | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "gorefs: {e:#}");
            ExitCode::from(2)
        }
    }
}
