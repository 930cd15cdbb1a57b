//! `gorefs flamegraph`: the retention tree ([`super::tree`]) as a
//! self-contained SVG icicle graph: the whole live heap on top, each root
//! below it, then what each keeps alive. A box's width is its frame's total
//! bytes (in dominator mode, what it retains); its tooltip (`<title>`) gives
//! bytes, objects, the frame's own bytes and what its objects retain.
//!
//! Children start at their parent's left edge; the frame's own bytes are the
//! bare space at its right. Colours: roots in blue-grey, objects by the
//! package of their type (a hue hashed from the package name, never the
//! roots' blue, light enough for black text), boxes that merge the small
//! children of a frame (each below 0.1% of the heap; the tooltip names the
//! largest) in grey. Boxes carry
//! `data-bytes` so scripts and tests can read the totals. [`diff_svg`] draws
//! two merged trees, coloured by growth, for `gorefs diff --flamegraph`.

use std::fmt::Write as _;

use super::tree::{LabelKind, RetentionTree, ALL};
use super::{human_bytes, xml_escape as escape};
use crate::cli::TreeMode;

/// Drawing width in pixels.
const WIDTH: f64 = 1200.0;
const ROW: f64 = 18.0;
/// Space above the first row, for the heading.
const TOP: f64 = 34.0;
/// Approximate advance of one character of the 11px monospace font.
const CHAR: f64 = 6.7;
/// Children below this share of the heap are merged into one box.
const MIN_SHARE: f64 = 0.001;
/// Merged children named in the merged box's tooltip, largest first.
const OTHER_NAMES: usize = 40;

/// A box to draw.
struct Bar<'a> {
    x: f64,
    depth: usize,
    bytes: u64,
    text: &'a str,
    fill: String,
    tooltip: String,
}

/// The SVG of `tree`. `standalone` adds the XML namespace a file needs
/// (inline SVG in HTML goes without it, so the page names no URL).
pub fn svg(tree: &RetentionTree, standalone: bool) -> String {
    render(tree, standalone, None)
}

/// A differential flame graph of two trees merged by
/// [`RetentionTree::merge`]: widths are the larger of before and after,
/// red boxes grew, blue ones shrank (the deeper the colour, the larger the
/// change relative to before), grey ones did not change.
pub fn diff_svg(merged: &RetentionTree, totals: &[(u64, u64)]) -> String {
    render(merged, true, Some(totals))
}

fn render(tree: &RetentionTree, standalone: bool, diff: Option<&[(u64, u64)]>) -> String {
    let total = tree.live_bytes();
    let scale = if total == 0 {
        0.0
    } else {
        WIDTH / total as f64
    };
    let min_bytes = (total as f64 * MIN_SHARE).ceil() as u64;
    let kids = tree.children();
    let mut bars = Vec::new();
    // (frame, x in bytes, depth), depth-first without recursion.
    let mut stack = vec![(ALL, 0u64, 0usize)];
    while let Some((f, x, depth)) = stack.pop() {
        let fr = &tree.frames[f as usize];
        bars.push(Bar {
            x: x as f64 * scale,
            depth,
            bytes: fr.total_bytes,
            text: tree.label(f),
            fill: match diff {
                Some(d) => diff_colour(d[f as usize]),
                None => colour(tree, f),
            },
            tooltip: match diff {
                Some(d) => diff_tooltip(tree.label(f), d[f as usize]),
                None => tooltip(tree, f, total),
            },
        });
        // Children from the left edge; the frame's own bytes stay bare at
        // the right.
        let mut cx = x;
        let (mut small, mut small_bytes, mut small_objects) = (0usize, 0u64, 0u64);
        let mut names = String::new();
        for &c in &kids[f as usize] {
            let c_fr = &tree.frames[c as usize];
            if c_fr.total_bytes >= min_bytes && c_fr.total_bytes > 0 {
                stack.push((c, cx, depth + 1));
                cx += c_fr.total_bytes;
                continue;
            }
            // Children are sorted largest first: name the largest merged.
            if small < OTHER_NAMES {
                let _ = write!(
                    names,
                    "\n  {} {}",
                    human_bytes(c_fr.total_bytes),
                    tree.label(c)
                );
            }
            small += 1;
            small_bytes += c_fr.total_bytes;
            small_objects += c_fr.total_objects;
        }
        if small_bytes > 0 {
            if small > OTHER_NAMES {
                let _ = write!(names, "\n  … and {} more", small - OTHER_NAMES);
            }
            bars.push(Bar {
                x: cx as f64 * scale,
                depth: depth + 1,
                bytes: small_bytes,
                text: "other",
                fill: "#d4d4d4".into(),
                tooltip: format!(
                    "other: {small} smaller frame{} below {}\n{} in {small_objects} objects:{names}",
                    if small == 1 { "" } else { "s" },
                    tree.label(f),
                    amount(small_bytes, total)
                ),
            });
        }
    }
    let rows = bars.iter().map(|b| b.depth + 1).max().unwrap_or(1);
    let height = TOP + rows as f64 * ROW + 4.0;
    let ns = if standalone {
        r#" xmlns="http://www.w3.org/2000/svg""#
    } else {
        ""
    };
    let mode = match tree.mode {
        TreeMode::Dominators => "dominator tree",
        TreeMode::Paths => "shortest paths from the roots",
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg{ns} class="flamegraph" width="{w}" height="{height}" viewBox="0 0 {w} {height}" font-family="monospace" font-size="11" data-total-bytes="{total}" data-total-objects="{objects}">
<style>.f text{{pointer-events:none}} .f:hover rect{{stroke:#000;stroke-width:1}}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="4" y="15" font-size="13">{heading}</text>
<text x="4" y="29" fill="#555">{sub}</text>
"##,
        w = WIDTH + 2.0,
        objects = tree.live_objects(),
        heading = escape(&match diff.and_then(|d| d.first()) {
            Some(&(a, b)) => format!(
                "How the heap changed ({mode}): {} → {}",
                human_bytes(a),
                human_bytes(b)
            ),
            None => format!(
                "What keeps the heap alive ({mode}): {} in {} objects",
                human_bytes(total),
                tree.live_objects()
            ),
        }),
        sub = escape(if diff.is_some() {
            "widths are the larger of before and after; red grew, blue shrank"
        } else {
            "widths are bytes; hover over a box for details"
        }),
    );
    for b in &bars {
        let w = b.bytes as f64 * scale;
        let y = TOP + b.depth as f64 * ROW;
        let _ = write!(
            s,
            r#"<g class="f" data-bytes="{}"><title>{}</title><rect x="{:.2}" y="{y}" width="{:.2}" height="{}" fill="{}" rx="2"/>"#,
            b.bytes,
            escape(&b.tooltip),
            b.x + 1.0,
            w.max(0.5),
            ROW - 1.0,
            b.fill,
        );
        let fits = ((w - 6.0) / CHAR).floor();
        if fits >= 3.0 {
            let _ = write!(
                s,
                r#"<text x="{:.2}" y="{}">{}</text>"#,
                b.x + 4.0,
                y + ROW - 5.0,
                escape(&truncate(b.text, fits as usize))
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

/// `text`, cut to `max` characters with an ellipsis.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut t: String = text.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn amount(bytes: u64, total: u64) -> String {
    let share = if total == 0 {
        0.0
    } else {
        bytes as f64 * 100.0 / total as f64
    };
    format!("{} ({bytes} B, {share:.2}%)", human_bytes(bytes))
}

fn tooltip(tree: &RetentionTree, f: u32, total: u64) -> String {
    let fr = &tree.frames[f as usize];
    let mut t = format!(
        "{}\n{} in {} objects",
        tree.label(f),
        amount(fr.total_bytes, total),
        fr.total_objects
    );
    if f != ALL {
        if fr.objects > 0 {
            let _ = write!(
                t,
                "\nitself: {} objects, {}",
                fr.objects,
                human_bytes(fr.bytes)
            );
        }
        let _ = write!(t, "\nretains: {}", human_bytes(fr.retained));
    }
    t
}

/// Red for growth, blue for shrinkage, by the change relative to before.
fn diff_colour((before, after): (u64, u64)) -> String {
    if before == after {
        return "#dcdcdc".into();
    }
    let change = (after as f64 - before as f64) / before.max(1) as f64;
    let depth = change.abs().min(1.0);
    let light = 90.0 - 35.0 * depth;
    let hue = if change > 0.0 { 0 } else { 220 };
    format!("hsl({hue},75%,{light:.0}%)")
}

fn diff_tooltip(label: &str, (before, after): (u64, u64)) -> String {
    let delta = after as i64 - before as i64;
    let sign = if delta < 0 { "-" } else { "+" };
    format!(
        "{label}\n{} → {} ({sign}{})",
        human_bytes(before),
        human_bytes(after),
        human_bytes(delta.unsigned_abs())
    )
}

/// A light colour: roots blue-grey, objects by package.
fn colour(tree: &RetentionTree, f: u32) -> String {
    let label = tree.frames[f as usize].label;
    let Some(l) = tree.labels.get(label as usize) else {
        return "#bdbdbd".into();
    };
    match l.kind {
        LabelKind::Root => "hsl(215,22%,82%)".into(),
        LabelKind::Shared => "#c8c8c8".into(),
        LabelKind::Object => {
            // FNV-1a of the package name.
            let mut h: u32 = 0x811c_9dc5;
            for b in l.package.bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
            // Hues outside the roots' blue (190..240).
            let hue = h % 310;
            let hue = if hue >= 190 { hue + 50 } else { hue };
            let light = 68 + (h >> 9) % 10;
            format!("hsl({hue},65%,{light}%)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation() {
        assert_eq!(truncate("main.Session", 20), "main.Session");
        assert_eq!(truncate("main.Session", 6), "main.…");
    }
}
