//! Command-line definition and dispatch.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args as ClapArgs, Parser, Subcommand};
use gocore::process::Core;

use crate::report;

/// Offline heap analysis of Go core dumps: what is keeping this memory alive?
#[derive(Parser, Debug)]
#[command(name = "gorefs", version, about, long_about = None)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Go version, threads, goroutines, live and garbage objects, memory breakdown.
    Overview(Common),
    /// Live objects per type: count and bytes.
    Histogram(HistogramArgs),
    /// Every live object: address, type, size.
    Objects(ObjectsArgs),
    /// Goroutines with status, wait reason and stack frames.
    Goroutines(Common),
    /// GC roots that hold heap objects: globals, stack variables, finalizers, ...
    Roots(Common),
    /// The process's memory mappings and where gorefs reads each from.
    Mappings(Common),
}

/// Arguments every command takes.
#[derive(ClapArgs, Debug)]
pub struct Common {
    /// The core dump (ELF; may be zstd-compressed).
    pub core: PathBuf,
    /// The executable; found from the core's file mappings when omitted.
    pub exe: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(ClapArgs, Debug)]
pub struct HistogramArgs {
    #[command(flatten)]
    pub common: Common,
    /// Show only the N types with the most bytes.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Include allocated objects that are not reachable (garbage not yet swept).
    #[arg(long)]
    pub all: bool,
}

#[derive(ClapArgs, Debug)]
pub struct ObjectsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only objects whose type matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub r#type: Option<String>,
    /// Include allocated objects that are not reachable.
    #[arg(long)]
    pub all: bool,
}

fn open(c: &Common) -> Result<Core> {
    let core = Core::open(&c.core, c.exe.as_deref())
        .with_context(|| format!("cannot analyse {}", c.core.display()))?;
    for w in &core.warnings {
        eprintln!("gorefs: warning: {w}");
    }
    Ok(core)
}

pub fn run(args: Args) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match args.command {
        Command::Mappings(c) => {
            let core = open(&c)?;
            report::mappings::print(&core, c.json, &mut out)
        }
        Command::Overview(c) => {
            let core = open(&c)?;
            let a = analyze(&core)?;
            report::overview::print(&a, c.json, &mut out)
        }
        Command::Roots(c) => {
            let core = open(&c)?;
            let a = analyze(&core)?;
            report::roots::print(&a, c.json, &mut out)
        }
        Command::Goroutines(c) => {
            let core = open(&c)?;
            let a = analyze(&core)?;
            report::goroutines::print(&a, c.json, &mut out)
        }
        Command::Histogram(h) => {
            let core = open(&h.common)?;
            let a = analyze(&core)?;
            report::histogram::print(&a, h.all, h.top, h.common.json, &mut out)
        }
        Command::Objects(o) => {
            let filter = o
                .r#type
                .as_deref()
                .map(regex::Regex::new)
                .transpose()
                .context("bad --type regular expression")?;
            let core = open(&o.common)?;
            let a = analyze(&core)?;
            report::objects::print(&a, o.all, filter.as_ref(), o.common.json, &mut out)
        }
    }
}

fn analyze(core: &Core) -> Result<gocore::process::Analysis<'_>> {
    let a = core.analyze().context("cannot analyse the heap")?;
    for w in &a.warnings {
        eprintln!("gorefs: warning: {w}");
    }
    Ok(a)
}
