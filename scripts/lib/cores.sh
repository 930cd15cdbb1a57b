# Taking cores of Go test programs (sourced; the caller defines log and die).
#
# Cores are taken by the kernel (core_pattern must name a plain file); if the
# kernel cannot write one, gdb's generate-core-file is the fallback.
# GOREFS_CORE_METHOD=gdb forces the fallback.

CORE_PATTERN="$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '?')"

kernel_cores_usable() {
	[[ "${GOREFS_CORE_METHOD:-kernel}" == "kernel" ]] || return 1
	case "$CORE_PATTERN" in
	'|'* | */* | '?' | '') return 1 ;; # piped to a helper, or written elsewhere
	esac
	(ulimit -c unlimited) 2>/dev/null || return 1
	return 0
}

# find_core DIR: print the ELF core the kernel (or gdb) left in DIR.
find_core() {
	local f
	for f in "$1"/core*; do
		if [[ -f "$f" ]] && head -c 4 "$f" | grep -q 'ELF'; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

# dump_core WORK METHOD TENTHS CMD...: run CMD in WORK with GOTRACEBACK=crash
# (stdout to out.txt, stderr to traceback.txt), wait up to TENTHS tenths of a
# second for it to print "ready", then take a core: SIGQUIT makes the runtime
# print its traceback and abort, and the kernel writes the core (METHOD
# kernel); with METHOD gdb, gdb writes it first. 0 when a core exists.
dump_core() {
	local work="$1" method="$2" tenths="$3" pid i status=0
	shift 3
	rm -f "$work"/core* "$work"/out.txt "$work"/traceback.txt "$work"/gdb.txt
	(
		cd "$work"
		if [[ "$method" == kernel ]]; then ulimit -c unlimited; else ulimit -c 0; fi
		exec env GOTRACEBACK=crash "$@" >out.txt 2>traceback.txt
	) &
	pid=$!
	for ((i = 0; i < tenths; i++)); do
		grep -qx ready "$work/out.txt" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -qx ready "$work/out.txt" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		log "$1 did not print ready; stderr:"
		tail -n 20 "$work/traceback.txt" >&2 || true
		return 1
	fi
	if [[ "$method" == gdb ]]; then
		command -v gdb >/dev/null || { kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; die "gdb is required for the fallback (apt-get install gdb)"; }
		gdb -batch -nx -ex "generate-core-file $work/core" -p "$pid" >"$work/gdb.txt" 2>&1 || true
	fi
	kill -QUIT "$pid"
	{ wait "$pid"; } 2>/dev/null || status=$?
	log "$* (pid $pid) exited with status $status"
	find_core "$work" >/dev/null
}
