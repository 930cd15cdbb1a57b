//! Command-line definition and dispatch.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args as ClapArgs, CommandFactory, Parser, Subcommand};
use gocore::heap::ObjId;
use gocore::model::HeapModel;
use gocore::process::Core;
use gocore::Addr;

use crate::cache;
use crate::report;
use crate::report::view::View;
use crate::snapshot;
use crate::ui;

/// Offline heap analysis of Go core dumps: what is keeping this memory alive?
#[derive(Parser, Debug)]
#[command(name = "gorefs", version, about, long_about = None)]
pub struct Args {
    /// No progress bars, warnings or notes on stderr (errors still print).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Take DWARF and symbols from this file: the debug file of a stripped
    /// executable (`objcopy --only-keep-debug`), with the same build id.
    #[arg(long, global = true, value_name = "PATH")]
    pub debug_file: Option<PathBuf>,
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
    Goroutines(GoroutinesArgs),
    /// GC roots that hold heap objects: globals, stack variables, finalizers, ...
    Roots(Common),
    /// The process's memory mappings and where gorefs reads each from.
    Mappings(Common),
    /// What each root, type or package keeps alive (retained sizes from the dominator tree).
    Retained(RetainedArgs),
    /// The shortest reference chains from the nearest GC roots to an object.
    PathToRoot(PathArgs),
    /// The chain of objects that exclusively keep an object alive, nearest first.
    Dominators(TargetArgs),
    /// Who refers to an object: objects (with the field) and roots.
    Refs(TargetArgs),
    /// An object's fields with names, types and values.
    Inspect(TargetArgs),
    /// A deterministic JSON summary of the heap, to compare later with `diff`.
    Snapshot(SnapshotArgs),
    /// Growth between two snapshots or cores; exit 1 when a limit is exceeded.
    Diff(DiffArgs),
    /// A pprof profile (gzipped profile.proto) of what keeps the heap alive, for `go tool pprof`.
    Pprof(ProfileArgs),
    /// An SVG flame graph of what keeps the heap alive.
    Flamegraph(ProfileArgs),
    /// Graphviz DOT of an object's neighbourhood: its retainers and referents.
    Graph(GraphArgs),
    /// One self-contained HTML report: overview, memory, retainers, histogram, goroutines, flame graph.
    Report(ReportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `gorefs man > gorefs.1`.
    Man,
}

#[derive(ClapArgs, Debug)]
pub struct SnapshotArgs {
    /// The core dump (ELF; may be zstd-compressed).
    pub core: PathBuf,
    /// The executable; found from the core's file mappings when omitted.
    pub exe: Option<PathBuf>,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Roots and dominators listed.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub top: usize,
    /// Include field paths, which may contain map keys and other values.
    #[arg(long)]
    pub include_values: bool,
    #[command(flatten)]
    pub index: IndexArgs,
}

#[derive(ClapArgs, Debug)]
pub struct DiffArgs {
    /// Before: a snapshot (`gorefs snapshot`) or a core.
    pub a: PathBuf,
    /// After: a snapshot or a core.
    pub b: PathBuf,
    /// The executable of cores given as A or B (default: from the core).
    #[arg(long, value_name = "EXE")]
    pub exe: Option<PathBuf>,
    /// Fail (exit 1) when the live heap grows more than this (`10%`), or a
    /// type, root or package does (`main.Session=5%`). Repeatable.
    #[arg(long, value_name = "[NAME=]PCT")]
    pub max_growth: Vec<String>,
    /// Fail when the live heap, or a named type, root or package, grows by
    /// more bytes than this (`1MiB`, `main.Session=64KiB`). Repeatable.
    #[arg(long, value_name = "[NAME=]SIZE")]
    pub max_growth_bytes: Vec<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: report::diff::Format,
    /// Also draw a differential flame graph (SVG) of what holds the heap,
    /// red where it grew; needs two cores.
    #[arg(long, value_name = "FILE")]
    pub flamegraph: Option<PathBuf>,
    /// Rows shown per list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// Index control for commands that use the reference graph.
#[derive(ClapArgs, Debug)]
pub struct IndexArgs {
    /// Neither read nor write the index (re-analyse the core).
    #[arg(long)]
    pub no_index: bool,
}

#[derive(ClapArgs, Debug)]
pub struct GoroutinesArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also show the heap each goroutine's stack alone keeps alive.
    #[arg(long)]
    pub retained: bool,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// What `retained` groups by.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetainedBy {
    Root,
    Type,
    Package,
}

#[derive(ClapArgs, Debug)]
pub struct RetainedArgs {
    #[command(flatten)]
    pub common: Common,
    /// Group by root (variables, goroutine stacks, finalizers), by type (all
    /// objects of a type together) or by package.
    #[arg(long, value_enum, default_value = "root")]
    pub by: RetainedBy,
    /// Show the N largest.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// How `pprof` and `flamegraph` place each object below a root.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeMode {
    /// Below its dominators: a frame's total is what it retains.
    Dominators,
    /// Along the shortest path from the roots, frames named by field.
    Paths,
}

impl TreeMode {
    /// The name `--mode` takes.
    pub fn name(self) -> &'static str {
        match self {
            TreeMode::Dominators => "dominators",
            TreeMode::Paths => "paths",
        }
    }
}

#[derive(ClapArgs, Debug)]
pub struct ProfileArgs {
    /// The core dump (ELF; may be zstd-compressed).
    pub core: PathBuf,
    /// The executable; found from the core's file mappings when omitted.
    pub exe: Option<PathBuf>,
    /// The file to write (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Place objects below their dominators or along the shortest paths.
    #[arg(long, value_enum, default_value = "dominators")]
    pub mode: TreeMode,
    #[command(flatten)]
    pub index: IndexArgs,
}

#[derive(ClapArgs, Debug)]
pub struct GraphArgs {
    /// [CORE [EXE]] ADDR: the core and binary (default: the last analysed)
    /// and any address inside the object (hex).
    #[arg(num_args = 1..=3, required = true, value_name = "[CORE [EXE]] ADDR")]
    pub args: Vec<String>,
    /// Levels of retainers and of referents to show.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub depth: usize,
    /// Show at most N nodes.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_nodes: usize,
    /// The file to write (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub index: IndexArgs,
}

#[derive(ClapArgs, Debug)]
pub struct ReportArgs {
    /// The core dump (ELF; may be zstd-compressed).
    pub core: PathBuf,
    /// The executable; found from the core's file mappings when omitted.
    pub exe: Option<PathBuf>,
    /// The file to write (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// `[CORE [EXE]] ADDR`: an object of a core; the last core analysed when
/// only the address is given.
#[derive(ClapArgs, Debug)]
pub struct TargetArgs {
    /// [CORE [EXE]] ADDR: the core and binary (default: the last analysed)
    /// and any address inside the object (hex).
    #[arg(num_args = 1..=3, required = true, value_name = "[CORE [EXE]] ADDR")]
    pub args: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub index: IndexArgs,
}

#[derive(ClapArgs, Debug)]
pub struct PathArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Paths from the N nearest distinct roots.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub roots: usize,
    /// Paths from every root that reaches the object.
    #[arg(long)]
    pub all_roots: bool,
    /// Also follow weak references (weak pointers, unique handles).
    #[arg(long)]
    pub include_weak: bool,
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

/// `--debug-file`, set once by [`run`] for every core the command opens.
static DEBUG_FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

fn open(c: &Common) -> Result<Core> {
    open_with_debug(c, DEBUG_FILE.get().and_then(Option::as_deref))
}

fn open_with_debug(c: &Common, debug_file: Option<&Path>) -> Result<Core> {
    let core = Core::open_with_debug(&c.core, c.exe.as_deref(), debug_file)
        .with_context(|| format!("cannot analyse {}", c.core.display()))?;
    for w in &core.warnings {
        ui::warn(w);
    }
    Ok(core)
}

pub fn run(args: Args) -> Result<()> {
    ui::set_quiet(args.quiet);
    let _ = DEBUG_FILE.set(args.debug_file.clone());
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
        Command::Goroutines(g) => {
            let core = open(&g.common)?;
            let mut a = analyze(&core)?;
            let model = g
                .retained
                .then(|| cache::model(&core, &g.common.core, Some(&mut a), g.index.no_index))
                .transpose()?;
            report::goroutines::print(&a, model.as_ref(), g.common.json, &mut out)
        }
        Command::Retained(r) => {
            let core = open(&r.common)?;
            let model = cache::model(&core, &r.common.core, None, r.index.no_index)?;
            report::retained::print(&model, r.by, r.top, r.common.json, &mut out)
        }
        Command::PathToRoot(p) => {
            let t = Target::open(&p.target)?;
            let max = if p.all_roots { usize::MAX } else { p.roots };
            report::paths::path_to_root(
                &t.view()?,
                t.object,
                max,
                p.include_weak,
                p.target.json,
                &mut out,
            )
        }
        Command::Dominators(a) => {
            let t = Target::open(&a)?;
            report::paths::dominators(&t.view()?, t.object, a.json, &mut out)
        }
        Command::Refs(a) => {
            let t = Target::open(&a)?;
            report::paths::refs(&t.view()?, t.object, a.json, &mut out)
        }
        Command::Inspect(a) => {
            let t = Target::open(&a)?;
            report::inspect::print(&t.view()?, t.object, a.json, &mut out)
        }
        Command::Snapshot(s) => {
            let side = Side::open(
                &s.core,
                s.exe.as_deref(),
                s.top,
                s.include_values,
                s.index.no_index,
            )?;
            let json = serde_json::to_string_pretty(&side.snapshot)? + "\n";
            match &s.output {
                Some(path) => std::fs::write(path, json)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => out.write_all(json.as_bytes())?,
            }
            Ok(())
        }
        Command::Diff(d) => diff(&d, &mut out),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Args::command(), "gorefs", &mut out);
            Ok(())
        }
        Command::Man => Ok(clap_mangen::Man::new(Args::command()).render(&mut out)?),
        Command::Pprof(p) => {
            if p.output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!("not writing a gzipped profile to a terminal: pass -o FILE");
            }
            let (core, model) = open_model(&p.core, p.exe.as_deref(), p.index.no_index)?;
            let tree = report::tree::RetentionTree::build(&View::new(&core, &model)?, p.mode);
            let comments = [
                format!("gorefs pprof --mode {}", p.mode.name()),
                format!("core {}", p.core.display()),
                core.loaded.exe.build_info.go_version.clone(),
            ];
            let exe = core.loaded.exe.path.display().to_string();
            write_output(p.output.as_deref(), |w| {
                report::pprof::write(&tree, &exe, &comments, w)
            })
        }
        Command::Flamegraph(f) => {
            let (core, model) = open_model(&f.core, f.exe.as_deref(), f.index.no_index)?;
            let tree = report::tree::RetentionTree::build(&View::new(&core, &model)?, f.mode);
            let svg = report::flamegraph::svg(&tree, true);
            write_output(f.output.as_deref(), |w| Ok(w.write_all(svg.as_bytes())?))
        }
        Command::Graph(GraphArgs {
            args,
            depth,
            max_nodes,
            output,
            index,
        }) => {
            let t = Target::open(&TargetArgs {
                args,
                json: false,
                index,
            })?;
            let view = t.view()?;
            write_output(output.as_deref(), |w| {
                report::dot::write(&view, t.object, depth, max_nodes, w)
            })
        }
        Command::Report(r) => {
            let core = open(&Common {
                core: r.core.clone(),
                exe: r.exe.clone(),
                json: false,
            })?;
            let mut a = analyze(&core)?;
            let model = cache::model(&core, &r.core, Some(&mut a), r.index.no_index)?;
            let view = View::new(&core, &model)?;
            let core_path = r.core.display().to_string();
            write_output(r.output.as_deref(), |w| {
                report::html::write(&a, &view, &core_path, w)
            })
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

/// One side of a diff: a snapshot, and the core it came from when it was
/// made now.
struct Side {
    snapshot: snapshot::Snapshot,
    core: Option<(Core, HeapModel)>,
}

impl Side {
    fn open(
        path: &Path,
        exe: Option<&Path>,
        top: usize,
        values: bool,
        no_index: bool,
    ) -> Result<Side> {
        let head = {
            let mut buf = [0u8; 64];
            let n = std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read(&mut f, &mut buf))
                .with_context(|| format!("cannot read {}", path.display()))?;
            buf[..n].to_vec()
        };
        if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            return Ok(Side {
                snapshot: snapshot::parse(&text, &path.display().to_string())?,
                core: None,
            });
        }
        let core = open(&Common {
            core: path.to_path_buf(),
            exe: exe.map(Path::to_path_buf),
            json: false,
        })?;
        let mut a = analyze(&core)?;
        let model = cache::model(&core, path, Some(&mut a), no_index)?;
        let snapshot = snapshot::build(&core, &a, &model, top, values)?;
        drop(a);
        Ok(Side {
            snapshot,
            core: Some((core, model)),
        })
    }
}

fn diff(d: &DiffArgs, out: &mut dyn Write) -> Result<()> {
    let mut limits = Vec::new();
    for s in &d.max_growth {
        limits.push(snapshot::parse_limit(s, false)?);
    }
    for s in &d.max_growth_bytes {
        limits.push(snapshot::parse_limit(s, true)?);
    }
    // Snapshots made here list every root, so new and vanished roots are exact.
    let a = Side::open(&d.a, d.exe.as_deref(), usize::MAX, false, d.index.no_index)?;
    let b = Side::open(&d.b, d.exe.as_deref(), usize::MAX, false, d.index.no_index)?;
    let mut result = snapshot::diff(&a.snapshot, &b.snapshot);
    if let (Some((ca, ma)), Some((cb, mb))) = (&a.core, &b.core) {
        let same_process = a.snapshot.core.build_id == b.snapshot.core.build_id
            && a.snapshot.core.pid == b.snapshot.core.pid;
        if same_process {
            result.objects = Some(snapshot::object_diff(
                &View::new(ca, ma)?,
                &View::new(cb, mb)?,
            ));
        }
    }
    if let Some(file) = &d.flamegraph {
        let (Some((ca, ma)), Some((cb, mb))) = (&a.core, &b.core) else {
            bail!("--flamegraph needs two cores, not snapshots");
        };
        let tree = |c, m| -> Result<report::tree::RetentionTree> {
            Ok(report::tree::RetentionTree::build(
                &View::new(c, m)?,
                TreeMode::Dominators,
            ))
        };
        let (merged, totals) = report::tree::RetentionTree::merge(&tree(ca, ma)?, &tree(cb, mb)?);
        std::fs::write(file, report::flamegraph::diff_svg(&merged, &totals))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    let exceeded = snapshot::check(&result, &limits);
    report::diff::print(&result, d.format, d.top, exceeded.as_deref(), out)?;
    match exceeded {
        Some(why) => Err(snapshot::LimitExceeded(why).into()),
        None => Ok(()),
    }
}

/// A core and its heap model.
fn open_model(core: &Path, exe: Option<&Path>, no_index: bool) -> Result<(Core, HeapModel)> {
    let c = open(&Common {
        core: core.to_path_buf(),
        exe: exe.map(Path::to_path_buf),
        json: false,
    })?;
    let model = cache::model(&c, core, None, no_index)?;
    Ok((c, model))
}

/// Run `f` on the file `path` (created or truncated), or on standard output.
fn write_output(path: Option<&Path>, f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    match path {
        Some(p) => {
            let file = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            let mut w = std::io::BufWriter::new(file);
            f(&mut w)
                .and_then(|()| Ok(w.flush()?))
                .with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            f(&mut out)?;
            Ok(out.flush()?)
        }
    }
}

/// An object of a core named on the command line, with the core's model.
struct Target {
    core: Core,
    model: HeapModel,
    object: ObjId,
}

impl Target {
    fn open(a: &TargetArgs) -> Result<Target> {
        let mut debug_file = DEBUG_FILE.get().cloned().flatten();
        let (core_path, exe, addr) = match a.args.as_slice() {
            [addr] => {
                let last = cache::last_core()?;
                ui::note(format!(
                    "using {} (the last core analysed)",
                    last.core.display()
                ));
                debug_file = debug_file.or(last.debug_file);
                (last.core, Some(last.exe), addr)
            }
            [core, addr] => (PathBuf::from(core), None, addr),
            [core, exe, addr] => (PathBuf::from(core), Some(PathBuf::from(exe)), addr),
            _ => bail!("expected [CORE [EXE]] ADDR"),
        };
        let addr = parse_addr(addr)?;
        let common = Common {
            core: core_path.clone(),
            exe,
            json: a.json,
        };
        let core = open_with_debug(&common, debug_file.as_deref())?;
        let model = cache::model(&core, &core_path, None, a.index.no_index)?;
        let object = model.find_object(addr).with_context(|| {
            format!(
                "{addr} is not inside any heap object of {}",
                core_path.display()
            )
        })?;
        Ok(Target {
            core,
            model,
            object,
        })
    }

    fn view(&self) -> Result<View<'_>> {
        View::new(&self.core, &self.model)
    }
}

/// `0xc000123`, `c000123`.
fn parse_addr(s: &str) -> Result<Addr> {
    let hex = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    u64::from_str_radix(hex, 16)
        .map(Addr)
        .map_err(|_| anyhow::anyhow!("{s:?} is not a hexadecimal address"))
}

pub fn analyze(core: &Core) -> Result<gocore::process::Analysis<'_>> {
    let a = core
        .analyze_with(&ui::Bar::new())
        .context("cannot analyse the heap")?;
    for w in &a.warnings {
        ui::warn(w);
    }
    Ok(a)
}
