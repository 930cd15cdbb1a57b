#!/usr/bin/env bash
# Renders `gorefs report` of a test core in headless Chromium and saves
# screenshots to look at: the top of the page (overview, memory, retainers)
# and the flame graph, goroutines and retained-by-type sections. Also checks that the page names no http(s)
# URL (it must be self-contained) and that Chromium rendered it.
#
#   bash scripts/check-report.sh                  # go1.27.3, PNGs in $TMPDIR/gorefs-report-check
#   bash scripts/check-report.sh go1.21.13 OUTDIR
#
# Needs Chromium (Debian: apt-get install -y chromium).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
variant="${1:-go1.27.3}"
out="${2:-${TMPDIR:-/tmp}/gorefs-report-check}"
dir="$ROOT/testdata/cores/$variant"

browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [[ -z "$browser" ]]; then
	echo "check-report: no chromium found (apt-get install -y chromium)" >&2
	exit 1
fi

cargo build --quiet --release --locked --manifest-path "$ROOT/Cargo.toml"
gorefs="$ROOT/target/release/gorefs"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gorefs-report.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export GOREFS_CACHE_DIR="$tmp/cache"
mkdir -p "$out"
html="$out/report.html"
"$gorefs" report "$dir/core.zst" "$dir/heapzoo.zst" -o "$html"

if grep -Eq 'https?://' "$html"; then
	echo "check-report: $html names a URL; it must be self-contained:" >&2
	grep -Eo '.{0,40}https?://.{0,40}' "$html" >&2
	exit 1
fi

# shot NAME [SECTION]: a screenshot of the page, or of a copy showing only
# one section (headless Chromium does not scroll to a #fragment before it
# takes the screenshot).
shot() {
	local page="$html"
	if [[ -n "${2:-}" ]]; then
		page="$tmp/$1.html"
		sed "s|</head>|<style>main>section:not(#$2){display:none}</style></head>|" "$html" >"$page"
	fi
	"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
		--no-first-run --user-data-dir="$tmp/profile-$1" --hide-scrollbars \
		--screenshot="$out/$1.png" --window-size=1400,2000 "file://$page" \
		>"$tmp/$1.log" 2>&1 || { cat "$tmp/$1.log" >&2; exit 1; }
	if [[ ! -s "$out/$1.png" ]]; then
		echo "check-report: Chromium wrote no screenshot $1.png" >&2
		cat "$tmp/$1.log" >&2
		exit 1
	fi
	echo "check-report: $out/$1.png"
}
shot top
shot flame flame
shot goroutines goroutines
shot types types

# The DOM after scripts ran, in a copy that clicks the histogram's "type"
# header: the tables and the flame graph are there, and sorting works.
sed 's|</body>|<script>document.querySelector("#histogram th:nth-child(4)").click()</script></body>|' \
	"$html" >"$tmp/click.html"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
	--no-first-run --user-data-dir="$tmp/profile-dom" --dump-dom "file://$tmp/click.html" \
	>"$tmp/dom.html" 2>"$tmp/dom.log"
for want in 'main.holder' 'class="flamegraph"' 'table class="sortable"' '<th class="asc">type</th>'; do
	if ! grep -q "$want" "$tmp/dom.html"; then
		echo "check-report: rendered page lacks $want" >&2
		exit 1
	fi
done
echo "check-report: ok ($variant): look at the screenshots"
