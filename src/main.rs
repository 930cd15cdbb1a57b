//! gorefs: what is keeping this memory alive?
//!
//! A thin command line over `gocore`: parse arguments, load and analyse the
//! core, hand the analysis to a report in `report/`, print one clear line on
//! error.

mod alloc;
mod cache;
mod cli;
mod report;
mod snapshot;
mod ui;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: alloc::HugePageAlloc = alloc::HugePageAlloc;

fn main() -> ExitCode {
    ui::start_clock();
    let args = cli::Args::parse();
    let result = cli::run(args);
    ui::timing_note("end");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`gorefs objects | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "{}", ui::error_line(&one_line(&e)));
            if e.downcast_ref::<snapshot::LimitExceeded>().is_some() {
                return ExitCode::from(1);
            }
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, skipping causes whose text an
/// earlier message already includes.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let s = cause.to_string();
        if !line.contains(&s) {
            line.push_str(": ");
            line.push_str(&s);
        }
    }
    line.replace('\n', " ")
}
