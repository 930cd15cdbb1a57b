//! Print the runtime layout table of an unstripped binary (see
//! `gocore::runtime_table`): `layout_table CORE EXE > layouts/go1.24.txt`.
//! `scripts/make-layouts.sh` runs it over the test binaries.

use std::path::Path;

use gocore::process::Core;
use gocore::runtime_table::RuntimeTable;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [core, exe] = args.as_slice() else {
        eprintln!("usage: layout_table CORE EXE");
        std::process::exit(2);
    };
    let core = match Core::open(Path::new(core), Some(Path::new(exe))) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("layout_table: {e}");
            std::process::exit(2);
        }
    };
    if core.runtime_table.is_some() {
        eprintln!("layout_table: {exe} has no DWARF");
        std::process::exit(2);
    }
    let info = &core.loaded.exe.build_info;
    print!(
        "{}",
        RuntimeTable::extract(
            &core.dwarf,
            &info.go_version,
            &core.experiments,
            &core.wait_reasons()
        )
    );
}
