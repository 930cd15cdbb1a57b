//! The command line around the reports: completions, the man page,
//! `--quiet`.

use crate::util::{gorefs, variants};

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = gorefs().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("path-to-root") && text.contains("retained"),
            "{shell}"
        );
    }
    let out = gorefs().arg("man").output().unwrap();
    assert!(out.status.success());
    let roff = String::from_utf8_lossy(&out.stdout);
    assert!(
        roff.contains(".TH gorefs 1") && roff.contains("snapshot"),
        "{roff}"
    );
}

#[test]
fn quiet_silences_warnings_and_notes_but_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let v = &variants()[0];
    let core = crate::util::unzstd(&v.join("core.zst"), dir.path(), "core");
    let exe = v.join("heapzoo.zst");
    // A truncated core warns...
    let bytes = std::fs::read(&core).unwrap();
    std::fs::write(&core, &bytes[..bytes.len() * 9 / 10]).unwrap();
    let run = |quiet: bool| {
        let mut c = gorefs();
        if quiet {
            c.arg("--quiet");
        }
        c.arg("overview").arg(&core).arg(&exe).output().unwrap()
    };
    // (this one is cut before the span list: the analysis then stops with an
    // error after the warning).
    let loud = run(false);
    let loud = String::from_utf8_lossy(&loud.stderr);
    assert!(
        loud.contains("warning:") && loud.contains("error:"),
        "{loud}"
    );
    // ...unless --quiet; the error still prints.
    let quiet = run(true);
    let quiet = String::from_utf8_lossy(&quiet.stderr);
    assert!(
        !quiet.contains("warning:") && quiet.contains("error:"),
        "{quiet}"
    );
    // Errors still print.
    let out = gorefs()
        .args(["--quiet", "overview", "/nonexistent/core"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
}
