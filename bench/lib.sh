# lib.sh: what bench/run.sh, bench/ai.sh and bench/mcp.sh share: process
# clean-up, free ports, waiting for a quiet machine, number formats. Sourced
# by them; it uses their log function and their START_TS, TMP, PIDS,
# NEXT_PORT and budget settings, read when a function runs.

die() {
	log "ERROR: $*"
	exit 1
}

is_alive() { # true while pid runs (a zombie counts as dead)
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(<"/proc/$1/stat")
	st=${st##*) }
	[[ "${st:0:1}" != Z ]]
}

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		is_alive "$pid" || break
		sleep 0.1
	done
	if is_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}

port_busy() { [[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]; }

pick() { # pick VAR: sets VAR to the first free port at or above NEXT_PORT
	local i p
	for ((i = 0; i < 200; i++)); do
		p=$((NEXT_PORT + i))
		if ! port_busy "$p"; then
			NEXT_PORT=$((p + 1))
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port in $NEXT_PORT..$((NEXT_PORT + 199))"
}

show_log() { # file: last lines, indented
	[[ -s "$1" ]] && tail -n 15 "$1" | sed 's/^/    /' >&2
	return 0
}

budget_left() { # seconds before the measuring budget runs out
	echo $((BENCH_MAX_SECONDS - ($(date +%s) - MEASURE_TS)))
}

machine_busy_pct() { # whole-machine busy % over one second
	local a b
	a=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
	sleep 1
	b=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " ")
		busy = y[1] - x[1]; all = busy + y[2] - x[2]; printf "%.0f", all ? busy / all * 100 : 0}'
}

wait_quiet() { # max-seconds: 0 once the machine is under 10% busy, 1 if it never got there
	local max=$1 waited=0 busy
	while busy=$(machine_busy_pct) && ((busy > 10)); do
		if ((waited >= max)); then
			return 1
		fi
		((waited > 0)) || log "machine is ${busy}% busy with other work; waiting up to ${max}s for it to go quiet"
		waited=$((waited + 2))
		sleep 1
	done
	return 0
}

fmt() { # printf-format value -> formatted value, or n/a when empty
	# shellcheck disable=SC2059 # the format is the caller's
	if [[ -n "$2" ]]; then printf "$1" "$2"; else echo n/a; fi
}

to_us() { # wrk latency like 81.00us / 1.23ms / 1.01s -> microseconds
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /s$/) m = 1000000; else m = 1
		printf "%.1f", n * m }'
}
