#!/usr/bin/env bash
# Sluice MCP-gateway benchmark: a Go SDK MCP server (bench/mcpupstream)
# reached directly and through Sluice's mcp route, interleaved, pinned.
#
#   bash bench/mcp.sh                 # 3 interleaved rounds + profiles + idle streams
#                                     # (~4.5 min on a quiet machine, longer when runs are retried)
#   BENCH_QUICK=1 bash bench/mcp.sh   # smoke mode: 1 round of 1 s, 1,000 idle streams (~1.5 min)
#
# It measures:
#   - tool calls per second and p50/p99 latency (bench/mcpclient, tools/call
#     "echo" back to back on keep-alive connections) at each of CONCS
#     connections, for each workload, direct and through Sluice:
#       sse      2026-07-28 stateless calls, answered as text/event-stream
#                (the SDK's default)
#       json     the same, answered as application/json
#       session  2025-11-25 calls inside a session (Mcp-Session-Id; through
#                Sluice, its sealed id), answered as text/event-stream
#       raw      the sse workload against a hand-written server (no SDK)
#                that answers with fixed bytes: Sluice's own cost stands out
#     plus Sluice's and the server's CPU per call (utime+stime of
#     /proc/PID/stat around each run) and Sluice's allocations per call
#     (go_memstats_mallocs_total and alloc_bytes_total around each run);
#   - a CPU profile of Sluice under PROFILE_CONNS connections of the sse
#     workload (status.pprof), top entries printed;
#   - memory per idle proxied SSE stream: a fresh Sluice, IDLE_STREAMS
#     2025-11-25 sessions each holding its GET stream open through it; RSS
#     (/proc/PID/status VmRSS), Go heap and goroutines before and after.
#
# Environment knobs (all optional):
#   ROUNDS=3            interleaved rounds
#   DUR=2s              length of each measured run (after a 0.5 s unrecorded warm-up)
#   CONCS="1 16 64"     connections of the runs
#   WORKLOADS="sse json session raw"
#   IDLE_STREAMS=10000  idle streams opened through Sluice (0: skip the test);
#                       lowered, with a message, when ulimit -n cannot be raised
#                       to two descriptors per stream
#   IDLE_PAR=64         streams opened at a time
#   IDLE_HOLD=25        seconds the streams are held once open (>= 20, so
#                       every stream gets one of Sluice's 15 s keep-alives)
#   BENCH_PROFILE=1     take the CPU profile (0: skip)
#   PROFILE_CONNS="1 64" connections of the profiled loads, 10 s each
#   BENCH_QUICK=1       ROUNDS=1 DUR=1s IDLE_STREAMS=1000 IDLE_HOLD=20, c1 profile only
#   BENCH_PIN=1         clients on CPU 0, Sluice and the server on CPU 1
#   BENCH_GOMAXPROCS    GOMAXPROCS of the servers: 1 when pinned
#   BENCH_PORT_BASE=18900  first port tried; every port is checked free first
#   BENCH_MAX_SECONDS=600  budget of the measuring phase; later runs are skipped
#   BENCH_WAIT_IDLE=30  seconds to wait for a busy machine to go quiet
#   BENCH_RETRIES=2     re-runs of a run in which other programs took >10% of CPU 1
#   BENCH_OUT=DIR       also copy the raw TSV, the table, the profiles (with the
#                       sluice binary, sluice.bin, for go tool pprof) and the idle results into DIR
#   BENCH_KEEP=1        keep the temp dir (configs, logs, profiles)
#
# Everything listens on 127.0.0.1. Every process the script starts is
# stopped by its PID on exit; nothing else is touched.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
START_TS=$(date +%s)

ROUNDS=${ROUNDS:-3}
DUR=${DUR:-2s}
CONCS=${CONCS:-1 16 64}
WORKLOADS=${WORKLOADS:-sse json session raw}
IDLE_STREAMS=${IDLE_STREAMS:-10000}
IDLE_PAR=${IDLE_PAR:-64}
IDLE_HOLD=${IDLE_HOLD:-25}
BENCH_PROFILE=${BENCH_PROFILE:-1}
PROFILE_CONNS=${PROFILE_CONNS:-1 64}
RETRY_WAIT=15
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
	ROUNDS=1
	DUR=1s
	IDLE_STREAMS=${IDLE_STREAMS_QUICK:-1000}
	IDLE_HOLD=20
	PROFILE_CONNS=1
	RETRY_WAIT=5
fi
BENCH_PIN=${BENCH_PIN:-1}
if [[ "$BENCH_PIN" == 1 ]]; then
	BENCH_GOMAXPROCS=${BENCH_GOMAXPROCS-1}
else
	BENCH_GOMAXPROCS=${BENCH_GOMAXPROCS-}
fi
BENCH_PORT_BASE=${BENCH_PORT_BASE:-18900}
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-600}
RETRIES=${BENCH_RETRIES:-2}
[[ "${BENCH_QUICK:-0}" == 1 ]] && RETRIES=${BENCH_RETRIES:-1}
FOREIGN_LIMIT=10

DUR_S=${DUR%s}
if ! [[ "$DUR_S" =~ ^[0-9]+$ ]] || ((DUR_S < 1 || DUR_S > 120)); then
	echo "mcp.sh: DUR must be whole seconds between 1 and 120 (got '$DUR')" >&2
	exit 2
fi
if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 20)); then
	echo "mcp.sh: ROUNDS must be 1..20 (got '$ROUNDS')" >&2
	exit 2
fi
for c in $CONCS $PROFILE_CONNS; do
	if ! [[ "$c" =~ ^[0-9]+$ ]] || ((c < 1 || c > 4096)); then
		echo "mcp.sh: connections must be whole numbers 1..4096 (got '$c')" >&2
		exit 2
	fi
done
for w in $WORKLOADS; do
	case "$w" in
	sse | json | session | raw) ;;
	*)
		echo "mcp.sh: unknown workload '$w' (sse, json, session, raw)" >&2
		exit 2
		;;
	esac
done
for v in IDLE_STREAMS IDLE_PAR IDLE_HOLD; do
	if ! [[ "${!v}" =~ ^[0-9]+$ ]] || ((${!v} > 200000)); then
		echo "mcp.sh: $v must be a whole number 0..200000 (got '${!v}')" >&2
		exit 2
	fi
done
((IDLE_PAR >= 1)) || IDLE_PAR=1
DUR="${DUR_S}s"

log() { printf '[mcp-bench %3ds] %s\n' "$(($(date +%s) - START_TS))" "$*" >&2; }
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # die, cleanup, pick, wait_quiet ...

# ---------------------------------------------------------------- tools
need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
command -v ss >/dev/null 2>&1 || need_apt+=(iproute2)
if ((${#need_apt[@]} > 0)); then
	SUDO=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 || die "missing ${need_apt[*]} and not root (no sudo)"
		SUDO=(sudo)
	fi
	log "installing ${need_apt[*]} with apt-get"
	if ! DEBIAN_FRONTEND=noninteractive timeout 300 "${SUDO[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1; then
		timeout 300 "${SUDO[@]}" apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive timeout 300 "${SUDO[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null
	fi
fi
command -v go >/dev/null 2>&1 || die "go is not on PATH"

if [[ "$BENCH_PIN" == 1 ]]; then
	(($(nproc) >= 2)) || die "pinning needs 2 CPUs (nproc=$(nproc)); run with BENCH_PIN=0"
	PIN_CLIENT=(taskset -c 0)
	PIN_SERVER=(taskset -c 1)
else
	PIN_CLIENT=()
	PIN_SERVER=()
fi
SRV_ENV=(env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy -u ALL_PROXY -u all_proxy)
GOENV=("${SRV_ENV[@]}")
if [[ -n "$BENCH_GOMAXPROCS" ]]; then
	GOENV+=("GOMAXPROCS=$BENCH_GOMAXPROCS")
fi

# File descriptors: every idle stream holds one in the client and the
# server, and two in Sluice (client side and server side).
IDLE_NOFILE_NOTE=""
if ((IDLE_STREAMS > 0)); then
	want=$((IDLE_STREAMS * 2 + 400))
	if (($(ulimit -n) < want)); then
		ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	fi
	have=$(ulimit -n)
	if ((have < want)); then
		# 400 for Sluice's own: listeners, pooled connections, the runtime.
		fit=$(((have - 400) / 2 / 100 * 100))
		((fit > 0)) || fit=0
		IDLE_NOFILE_NOTE="ulimit -n can go no higher than $have here (hard limit $(ulimit -Hn), and raising it needs CAP_SYS_RESOURCE); Sluice holds two descriptors per stream (client and server side), so $fit streams instead of $IDLE_STREAMS"
		log "$IDLE_NOFILE_NOTE"
		IDLE_STREAMS=$fit
	fi
fi

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-mcp-bench.XXXXXX")
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build
log "building Go binaries into $TMP"
(cd "$REPO" && timeout 300 go build -o "$TMP/mcpupstream" ./bench/mcpupstream &&
	timeout 300 go build -o "$TMP/mcpclient" ./bench/mcpclient) || die "building bench/mcpupstream or bench/mcpclient failed"
if ! (cd "$REPO" && timeout 300 go build -o "$TMP/sluice" ./cmd/sluice) >"$TMP/sluice-build.log" 2>&1; then
	sed 's/^/    /' "$TMP/sluice-build.log" | head -20 >&2
	die "'go build ./cmd/sluice' failed"
fi
# What was built, taken now: others may commit while this runs.
BUILT_AT=$(date -u +%Y-%m-%dT%H:%MZ)
BUILT_FROM=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no commit')
if [[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | awk '$2 !~ /^bench\//' | head -n1)" ]]; then
	BUILT_FROM+=" plus uncommitted changes"
elif [[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -n1)" ]]; then
	BUILT_FROM+=" (uncommitted changes only under bench/)"
fi

# ---------------------------------------------------------------- ports
NEXT_PORT=$BENCH_PORT_BASE
UP_PORT="" SL_PORT="" SL_STATUS_PORT="" IDLE_PORT="" IDLE_STATUS_PORT=""
pick UP_PORT
pick SL_PORT
pick SL_STATUS_PORT
pick IDLE_PORT
pick IDLE_STATUS_PORT

# ---------------------------------------------------------------- start
wait_http() { # name url pid -> 0 when url answers 200 within ~10 s
	local name=$1 url=$2 pid=$3 i
	for ((i = 0; i < 100; i++)); do
		if ! is_alive "$pid"; then
			log "$name (pid $pid) exited during startup"
			return 1
		fi
		if curl -fsS --noproxy '*' --max-time 1 -o /dev/null "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not answer $url within 10 s"
	return 1
}

log "MCP server (go-sdk) on 127.0.0.1:$UP_PORT"
"${PIN_SERVER[@]}" "${GOENV[@]}" "$TMP/mcpupstream" -addr "127.0.0.1:$UP_PORT" 2>"$TMP/mcpupstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
wait_http mcpupstream "http://127.0.0.1:$UP_PORT/healthz" "$UP_PID" || {
	show_log "$TMP/mcpupstream.log"
	die "the MCP server failed to start"
}

sluice_config() { # port status_port routes(all|session)
	cat <<EOF
listeners: [{addr: 127.0.0.1:$1}]
status: {addr: 127.0.0.1:$2, pprof: true}
log: {access: false}
reload: {watch: false}
mcp:
  session_keys: ["bench-only-mcp-session-key-0123456789abcdef"]
mcp_servers:
  - {name: echo-sse, url: "http://127.0.0.1:$UP_PORT/mcp"}
  - {name: echo-json, url: "http://127.0.0.1:$UP_PORT/mcp-json"}
  - {name: echo-session, url: "http://127.0.0.1:$UP_PORT/mcp-session"}
  - {name: echo-raw, url: "http://127.0.0.1:$UP_PORT/mcp-raw"}
routes:
EOF
	if [[ "$3" == all ]]; then
		cat <<EOF
  - {name: mcp-sse, match: {paths: ["/mcp"]}, mcp: {servers: [echo-sse]}}
  - {name: mcp-json, match: {paths: ["/mcp-json"]}, mcp: {servers: [echo-json]}}
  - {name: mcp-raw, match: {paths: ["/mcp-raw"]}, mcp: {servers: [echo-raw]}}
EOF
	fi
	echo '  - {name: mcp-session, match: {paths: ["/mcp-session"]}, mcp: {servers: [echo-session]}}'
}

start_sluice() { # name port status_port routes -> SPID
	local name=$1
	sluice_config "$2" "$3" "$4" >"$TMP/$name.yaml"
	if ! timeout 30 "$TMP/sluice" validate -c "$TMP/$name.yaml" >"$TMP/$name-validate.log" 2>&1; then
		show_log "$TMP/$name-validate.log"
		die "sluice validate refused the generated config $TMP/$name.yaml"
	fi
	"${PIN_SERVER[@]}" "${GOENV[@]}" "$TMP/sluice" run -c "$TMP/$name.yaml" >/dev/null 2>"$TMP/$name.log" &
	SPID=$!
	PIDS+=("$SPID")
	if ! wait_http "$name" "http://127.0.0.1:$3/healthz" "$SPID"; then
		show_log "$TMP/$name.log"
		die "sluice did not start with $TMP/$name.yaml"
	fi
}

log "sluice on 127.0.0.1:$SL_PORT (status $SL_STATUS_PORT)"
start_sluice sluice "$SL_PORT" "$SL_STATUS_PORT" all
SL_PID=$SPID

T_NAME=(direct sluice)
T_BASE=("http://127.0.0.1:$UP_PORT" "http://127.0.0.1:$SL_PORT")
T_PID=("$UP_PID" "$SL_PID")

wl_path() { # workload -> endpoint path
	case "$1" in
	sse) echo /mcp ;;
	json) echo /mcp-json ;;
	session) echo /mcp-session ;;
	raw) echo /mcp-raw ;;
	esac
}
wl_era() { # workload -> client era
	case "$1" in
	session) echo 2025 ;;
	*) echo 2026 ;;
	esac
}

# ---------------------------------------------------------------- checks
# Each target must list the echo tool and answer a call with the echoed
# text, in each workload's era and content type, before anything is timed.
for i in "${!T_NAME[@]}"; do
	for w in $WORKLOADS; do
		if ! out=$(timeout 20 "$TMP/mcpclient" -mode check -url "${T_BASE[$i]}$(wl_path "$w")" -era "$(wl_era "$w")" 2>&1); then
			[[ "${T_NAME[$i]}" == sluice ]] && show_log "$TMP/sluice.log"
			die "${T_NAME[$i]} failed the $w check: $out"
		fi
		log "check ${T_NAME[$i]} $w: $out"
	done
done

# ---------------------------------------------------------------- measure
CLK_TCK=$(getconf CLK_TCK)
RAW="$TMP/raw.tsv"
printf 'round\tworkload\tconns\ttarget\tcalls_per_s\tp50_us\tp99_us\tcalls\tsluice_cpu_us_per_call\tserver_cpu_us_per_call\tsluice_allocs_per_call\tsluice_bytes_per_call\terrors\tforeign_cpu1_pct\n' >"$RAW"

proc_ticks() { # utime+stime (clock ticks) of pid, all its threads
	local s
	local -a f
	[[ -r /proc/$1/stat ]] || {
		echo 0
		return
	}
	s=$(<"/proc/$1/stat") || {
		echo 0
		return
	}
	s=${s##*) }
	read -r -a f <<<"$s"
	echo $((f[11] + f[12]))
}

cpu1_busy() { # busy clock ticks of CPU 1 since boot (user nice system irq softirq steal)
	awk '$1 == "cpu1" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

metric() { # status_port name -> value (first sample, no labels)
	curl -fsS --noproxy '*' --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null |
		awk -v n="$2" '$1 == n && !d {printf "%.0f", $2; d = 1}'
}

kv() { # key line -> value of key=value in line
	awk -v k="$1" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) {print substr($i, length(k) + 2); exit}}' <<<"$2"
}

per() { # ticks count -> CPU microseconds per count, 1 decimal
	awk -v a="$1" -v n="$2" -v t="$CLK_TCK" 'BEGIN {printf "%.1f", n ? a / t * 1e6 / n : 0}'
}

# measure: one run of the client against a target -> M_LINE, M_ERRS, M_MSG, M_FOREIGN
measure() { # round workload conns index
	local r=$1 w=$2 conns=$3 i=$4 out p0 u0 c0 t0 t1 pt ut ours calls sl_cpu a0="" b0="" a1="" b1=""
	if [[ "${T_NAME[$i]}" == sluice ]]; then
		a0=$(metric "$SL_STATUS_PORT" go_memstats_mallocs_total)
		b0=$(metric "$SL_STATUS_PORT" go_memstats_alloc_bytes_total)
	fi
	p0=$(proc_ticks "$SL_PID")
	u0=$(proc_ticks "$UP_PID")
	c0=$(cpu1_busy)
	t0=$(date +%s%N)
	if ! out=$(timeout $((DUR_S + 30)) "${PIN_CLIENT[@]}" "$TMP/mcpclient" -url "${T_BASE[$i]}$(wl_path "$w")" \
		-era "$(wl_era "$w")" -c "$conns" -d "$DUR" -warmup 500ms 2>&1); then
		log "client against ${T_NAME[$i]} ($w c$conns) failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
		return 1
	fi
	t1=$(date +%s%N)
	pt=$(($(proc_ticks "$SL_PID") - p0))
	ut=$(($(proc_ticks "$UP_PID") - u0))
	if [[ "${T_NAME[$i]}" == sluice ]]; then
		a1=$(metric "$SL_STATUS_PORT" go_memstats_mallocs_total)
		b1=$(metric "$SL_STATUS_PORT" go_memstats_alloc_bytes_total)
	fi
	ours=$ut
	[[ "${T_NAME[$i]}" == sluice ]] && ours=$((ours + pt))
	if [[ "$BENCH_PIN" == 1 ]]; then
		M_FOREIGN=$(awk -v b="$(($(cpu1_busy) - c0))" -v o="$ours" -v ns="$((t1 - t0))" -v t="$CLK_TCK" \
			'BEGIN {f = (b - o) / (ns / 1e9 * t) * 100; if (f < 0) f = 0; printf "%.0f", f}')
	else
		M_FOREIGN=n/a
	fi
	calls=$(kv calls "$out")
	M_ERRS=$(kv errors "$out")
	if ! [[ "$calls" =~ ^[0-9]+$ && "$M_ERRS" =~ ^[0-9]+$ ]] || ((calls == 0)); then
		log "could not parse the client's output for ${T_NAME[$i]}: $out"
		return 1
	fi
	((M_ERRS == 0)) || log "${T_NAME[$i]} $w c$conns: $M_ERRS errors; last: $(grep -o 'last_error=.*' <<<"$out")"
	# CPU is counted over the whole client run (warm-up included), so it is
	# divided by the calls of the whole run: measured calls scaled by
	# (warm-up + duration) / duration.
	local all
	all=$(awk -v n="$calls" -v d="$DUR_S" 'BEGIN {printf "%.0f", n * (d + 0.5) / d}')
	sl_cpu=NA sl_allocs=NA sl_bytes=NA
	if [[ "${T_NAME[$i]}" == sluice ]]; then
		sl_cpu=$(per "$pt" "$all")
		if [[ -n "$a0" && -n "$a1" && -n "$b0" && -n "$b1" ]]; then
			# The two scrapes' own allocations are in the count: about 1,000
			# objects and 100 KB, under 1 per call at these call counts.
			sl_allocs=$(awk -v a="$a0" -v b="$a1" -v n="$all" 'BEGIN {printf "%.0f", (b - a) / n}')
			sl_bytes=$(awk -v a="$b0" -v b="$b1" -v n="$all" 'BEGIN {printf "%.0f", (b - a) / n}')
		fi
	fi
	M_LINE=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$r" "$w" "$conns" "${T_NAME[$i]}" \
		"$(kv rps "$out")" "$(kv p50_us "$out")" "$(kv p99_us "$out")" "$calls" "$sl_cpu" "$(per "$ut" "$all")" \
		"$sl_allocs" "$sl_bytes" "$M_ERRS" "$M_FOREIGN")
	M_MSG="$(printf '%-7s %-6s c%-3s %7s calls/s  p50 %5sus  p99 %6sus' "$w" "${T_NAME[$i]}" "$conns" "$(kv rps "$out")" "$(kv p50_us "$out")" "$(kv p99_us "$out")")"
	[[ "$sl_cpu" != NA ]] && M_MSG+="  sluice cpu ${sl_cpu}us/call ${sl_allocs} allocs/call"
	M_MSG+="  server cpu $(per "$ut" "$all")us/call"
}

SKIPPED_RUNS=0
RETRIED_RUNS=0
run_one() { # round workload conns index: one recorded run, retried while other work disturbs it
	local r=$1 w=$2 conns=$3 i=$4 attempt need
	need=$((DUR_S + 3))
	for ((attempt = 0; ; attempt++)); do
		if (($(budget_left) < need)); then
			SKIPPED_RUNS=$((SKIPPED_RUNS + 1))
			return 0
		fi
		if ! is_alive "${T_PID[$i]}" || ! is_alive "$UP_PID"; then
			log "${T_NAME[$i]} or the MCP server is gone; skipping the run"
			SKIPPED_RUNS=$((SKIPPED_RUNS + 1))
			return 0
		fi
		measure "$r" "$w" "$conns" "$i" || return 0
		if [[ "$M_FOREIGN" != n/a ]] && ((M_FOREIGN > FOREIGN_LIMIT && attempt < RETRIES)) &&
			(($(budget_left) >= 2 * need + 15)); then
			log "round $r  $w c$conns ${T_NAME[$i]} disturbed (other work took ${M_FOREIGN}% of CPU 1): retrying"
			RETRIED_RUNS=$((RETRIED_RUNS + 1))
			wait_quiet "$RETRY_WAIT" || true
			continue
		fi
		break
	done
	echo "$M_LINE" >>"$RAW"
	((M_ERRS == 0)) || log "WARNING: ${T_NAME[$i]} had $M_ERRS errors in round $r ($w c$conns)"
	log "round $r  $M_MSG  foreign cpu1 ${M_FOREIGN}%"
}

NRUNS=$((ROUNDS * $(wc -w <<<"$WORKLOADS") * $(wc -w <<<"$CONCS") * 2))
log "pinning: $([[ "$BENCH_PIN" == 1 ]] && echo 'clients on CPU 0, Sluice and the MCP server on CPU 1' || echo none); GOMAXPROCS=${BENCH_GOMAXPROCS:-default}"
log "measuring: $ROUNDS round(s) x workloads [$WORKLOADS] x conns [$CONCS] x 2 targets = $NRUNS runs of $DUR"
WAIT_IDLE=${BENCH_WAIT_IDLE:-30}
[[ "${BENCH_QUICK:-0}" == 1 ]] && WAIT_IDLE=${BENCH_WAIT_IDLE:-10}
if ! wait_quiet "$WAIT_IDLE"; then
	log "WARNING: machine still busy with other work after ${WAIT_IDLE}s; measuring anyway (disturbed runs are retried up to $RETRIES times)"
fi
MEASURE_TS=$(date +%s)

# Warm-up (not recorded): connection pools, the server's schema caches,
# and the tool name Sluice learns from tools/list (checks above).
for w in $WORKLOADS; do
	for i in "${!T_NAME[@]}"; do
		timeout 30 "${PIN_CLIENT[@]}" "$TMP/mcpclient" -url "${T_BASE[$i]}$(wl_path "$w")" -era "$(wl_era "$w")" \
			-c 16 -d 1s -warmup 0s >/dev/null 2>&1 || log "warm-up of ${T_NAME[$i]} ($w) failed"
	done
done

for ((r = 1; r <= ROUNDS; r++)); do
	for w in $WORKLOADS; do
		for c in $CONCS; do
			for i in "${!T_NAME[@]}"; do
				run_one "$r" "$w" "$c" "$i"
			done
		done
	done
done
FOREIGN_MAX=$(awk -F'\t' 'NR > 1 && $NF != "n/a" && $NF + 0 > m {m = $NF + 0} END {print m + 0}' "$RAW")
if [[ "$BENCH_PIN" == 1 ]] && ((FOREIGN_MAX > FOREIGN_LIMIT)); then
	log "WARNING: other work took up to ${FOREIGN_MAX}% of CPU 1 during some runs (column foreign_cpu1_pct); rerun on a quiet machine"
fi
((RETRIED_RUNS == 0)) || log "$RETRIED_RUNS run(s) were disturbed by other work and measured again"
((SKIPPED_RUNS == 0)) || log "WARNING: $SKIPPED_RUNS run(s) skipped (budget BENCH_MAX_SECONDS=$BENCH_MAX_SECONDS or a dead target)"

# ---------------------------------------------------------------- profile
PROFILES="$TMP/profiles.md"
: >"$PROFILES"
if [[ "$BENCH_PROFILE" == 1 ]]; then
	for c in $PROFILE_CONNS; do
		log "CPU profile of sluice: 10 s of the sse workload at c$c"
		timeout 40 "${PIN_CLIENT[@]}" "$TMP/mcpclient" -url "http://127.0.0.1:$SL_PORT/mcp" -c "$c" -d 12s -warmup 0s \
			>"$TMP/profile-c$c.client" 2>&1 &
		CL_PID=$!
		PIDS+=("$CL_PID")
		sleep 1
		if timeout 30 curl -fsS --noproxy '*' -o "$TMP/sluice-c$c.pprof" \
			"http://127.0.0.1:$SL_STATUS_PORT/debug/pprof/profile?seconds=10" 2>"$TMP/profile-c$c.err"; then
			wait "$CL_PID" 2>/dev/null || true
			{
				echo "### CPU profile, sse workload, c$c ($(kv rps "$(cat "$TMP/profile-c$c.client" 2>/dev/null)") calls/s while profiled)"
				echo
				echo '```'
				timeout 60 go tool pprof -top -nodecount=30 "$TMP/sluice" "$TMP/sluice-c$c.pprof" 2>/dev/null || true
				echo '```'
				echo
				echo "Cumulative, Sluice's own code and the runtime's large items:"
				echo
				echo '```'
				{ timeout 60 go tool pprof -top -cum -nodecount=80 "$TMP/sluice" "$TMP/sluice-c$c.pprof" 2>/dev/null || true; } |
					awk '/sluice|runtime\.(mallocgc|gcBgMarkWorker|findRunnable|netpoll)|syscall\.Syscall|internal\/poll|encoding\/json|crypto|slog|ResponseController/ && n++ < 40'
				echo '```'
				echo
			} >>"$PROFILES"
		else
			log "profile at c$c failed: $(cat "$TMP/profile-c$c.err")"
		fi
		wait "$CL_PID" 2>/dev/null || true
	done
fi

# ---------------------------------------------------------------- idle streams
IDLE_MD="$TMP/idle.md"
: >"$IDLE_MD"
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
IDLE_RESULT=""
if ((IDLE_STREAMS > 0)); then
	stop_pid "$SL_PID" # its descriptors and memory are no longer needed
	log "idle streams: a fresh sluice on 127.0.0.1:$IDLE_PORT, $IDLE_STREAMS sessions with a GET stream each (ulimit -n $(ulimit -n))"
	start_sluice sluice-idle "$IDLE_PORT" "$IDLE_STATUS_PORT" session
	ID_PID=$SPID
	IURL="http://127.0.0.1:$IDLE_PORT/mcp-session"
	# A few sessions and calls first, so that the baseline has the code
	# paths, pools and buffers one stream needs.
	for ((k = 0; k < 3; k++)); do
		timeout 20 "$TMP/mcpclient" -mode check -url "$IURL" -era 2025 >/dev/null 2>&1 || die "the idle sluice failed the session check"
	done
	timeout 30 "${PIN_CLIENT[@]}" "$TMP/mcpclient" -mode idle -url "$IURL" -k 50 -p 10 -hold 1s >/dev/null 2>&1 ||
		log "idle warm-up streams failed"
	sleep 3
	R0=$(rss_kib "$ID_PID")
	U0=$(rss_kib "$UP_PID")
	G0=$(metric "$IDLE_STATUS_PORT" go_goroutines)
	H0=$(metric "$IDLE_STATUS_PORT" go_memstats_heap_inuse_bytes)
	S0=$(metric "$IDLE_STATUS_PORT" go_memstats_stack_inuse_bytes)
	"${PIN_CLIENT[@]}" "$TMP/mcpclient" -mode idle -url "$IURL" -k "$IDLE_STREAMS" -p "$IDLE_PAR" -hold "$((IDLE_HOLD + 60))s" \
		>"$TMP/idle.client" 2>&1 &
	IC_PID=$!
	PIDS+=("$IC_PID")
	for ((t = 0; t < 1200; t++)); do # 120 s to open them
		grep -q '^ready ' "$TMP/idle.client" 2>/dev/null && break
		is_alive "$IC_PID" || break
		sleep 0.1
	done
	READY=$(grep '^ready ' "$TMP/idle.client" || true)
	if [[ -z "$READY" ]]; then
		tail -n 5 "$TMP/idle.client" >&2 || true
		log "WARNING: the idle client did not report its streams open; skipping the idle result"
	else
		OPEN=$(kv open "$READY")
		log "idle streams: $READY"
		sleep 5
		R1=$(rss_kib "$ID_PID")
		U1=$(rss_kib "$UP_PID")
		G1=$(metric "$IDLE_STATUS_PORT" go_goroutines)
		H1=$(metric "$IDLE_STATUS_PORT" go_memstats_heap_inuse_bytes)
		S1=$(metric "$IDLE_STATUS_PORT" go_memstats_stack_inuse_bytes)
		FD1=$(find "/proc/$ID_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		# A heap profile taken with gc=1 runs a collection first: the live
		# heap per stream, and who holds it.
		timeout 30 curl -fsS --noproxy '*' -o "$TMP/idle-heap.pprof" "http://127.0.0.1:$IDLE_STATUS_PORT/debug/pprof/heap?gc=1" 2>/dev/null || true
		H2=$(metric "$IDLE_STATUS_PORT" go_memstats_heap_inuse_bytes)
		# Wait until every stream has had one of Sluice's 15 s keep-alives.
		sleep "$((IDLE_HOLD > 8 ? IDLE_HOLD - 8 : 1))"
		R2=$(rss_kib "$ID_PID")
		G2=$(metric "$IDLE_STATUS_PORT" go_goroutines)
		H3=$(metric "$IDLE_STATUS_PORT" go_memstats_heap_inuse_bytes)
		kill -TERM "$IC_PID" 2>/dev/null || true
		for ((t = 0; t < 300; t++)); do
			grep -q '^held ' "$TMP/idle.client" 2>/dev/null && break
			is_alive "$IC_PID" || break
			sleep 0.1
		done
		HELD=$(grep '^held ' "$TMP/idle.client" || true)
		log "idle streams: $HELD"
		pk() { awk -v a="$1" -v b="$2" -v n="$OPEN" 'BEGIN {printf "%.1f", n ? (b - a) / n / 1024 : 0}'; }
		pkk() { awk -v a="$1" -v b="$2" -v n="$OPEN" 'BEGIN {printf "%.1f", n ? (b - a) / n : 0}'; }
		IDLE_RESULT=$(pk "$((R0 * 1024))" "$((R1 * 1024))")
		{
			echo "| measure | before | with $OPEN streams open | per stream |"
			echo "|---|---:|---:|---:|"
			printf '| Sluice RSS, 5 s after the last stream opened | %s MiB | %s MiB | **%s KiB** |\n' \
				"$(awk -v v="$R0" 'BEGIN {printf "%.1f", v / 1024}')" "$(awk -v v="$R1" 'BEGIN {printf "%.1f", v / 1024}')" "$IDLE_RESULT"
			printf '| Sluice RSS, after a keep-alive on every stream | %s MiB | %s MiB | %s KiB |\n' \
				"$(awk -v v="$R0" 'BEGIN {printf "%.1f", v / 1024}')" "$(awk -v v="$R2" 'BEGIN {printf "%.1f", v / 1024}')" "$(pk "$((R0 * 1024))" "$((R2 * 1024))")"
			printf '| Sluice Go heap in use (before GC) | %s MiB | %s MiB | %s KiB |\n' \
				"$(awk -v v="$H0" 'BEGIN {printf "%.1f", v / 1048576}')" "$(awk -v v="$H1" 'BEGIN {printf "%.1f", v / 1048576}')" "$(pk "$H0" "$H1")"
			printf '| Sluice Go heap in use (after a forced GC) | %s MiB | %s MiB | %s KiB |\n' \
				"$(awk -v v="$H0" 'BEGIN {printf "%.1f", v / 1048576}')" "$(awk -v v="$H2" 'BEGIN {printf "%.1f", v / 1048576}')" "$(pk "$H0" "$H2")"
			printf '| Sluice Go heap in use (after the keep-alives) | %s MiB | %s MiB | %s KiB |\n' \
				"$(awk -v v="$H0" 'BEGIN {printf "%.1f", v / 1048576}')" "$(awk -v v="$H3" 'BEGIN {printf "%.1f", v / 1048576}')" "$(pk "$H0" "$H3")"
			printf '| Sluice goroutine stacks | %s MiB | %s MiB | %s KiB |\n' \
				"$(awk -v v="$S0" 'BEGIN {printf "%.1f", v / 1048576}')" "$(awk -v v="$S1" 'BEGIN {printf "%.1f", v / 1048576}')" "$(pk "$S0" "$S1")"
			printf '| Sluice goroutines | %s | %s | %s |\n' "$G0" "$G1" "$(pkk "$G0" "$G1")"
			printf '| Sluice goroutines after the keep-alives | %s | %s | %s |\n' "$G0" "$G2" "$(pkk "$G0" "$G2")"
			printf '| Sluice open descriptors | | %s | |\n' "$FD1"
			printf '| MCP server (go-sdk) RSS, for scale | %s MiB | %s MiB | %s KiB |\n' \
				"$(awk -v v="$U0" 'BEGIN {printf "%.1f", v / 1024}')" "$(awk -v v="$U1" 'BEGIN {printf "%.1f", v / 1024}')" "$(pk "$((U0 * 1024))" "$((U1 * 1024))")"
			echo
			echo "Client: $READY; $HELD (dropped: streams that ended before the client closed them; comments: keep-alive and priming comments received)."
			[[ -n "$IDLE_NOFILE_NOTE" ]] && echo "Stream count lowered: $IDLE_NOFILE_NOTE."
			if [[ -s "$TMP/idle-heap.pprof" ]]; then
				echo
				echo "Live heap by allocation site (after GC, all $OPEN streams open):"
				echo
				echo '```'
				timeout 60 go tool pprof -sample_index=inuse_space -top -nodecount=15 "$TMP/sluice" "$TMP/idle-heap.pprof" 2>/dev/null || true
				echo '```'
				echo
				echo "Who allocated the largest ones:"
				echo
				echo '```'
				{ timeout 60 go tool pprof -sample_index=inuse_space -peek 'bufio\.NewReaderSize|bufio\.NewWriterSize|h1server\.init\.func' \
					"$TMP/sluice" "$TMP/idle-heap.pprof" 2>/dev/null || true; } | awk '/\|/ && !/calls%/'
				echo '```'
			fi
		} >"$IDLE_MD"
	fi
	stop_pid "$IC_PID"
fi

# ---------------------------------------------------------------- report
median() { # workload conns target column -> median over rounds (empty if none)
	awk -F'\t' -v w="$1" -v c="$2" -v t="$3" -v col="$4" 'NR > 1 && $2 == w && $3 == c && $4 == t && $col != "NA" {print $col}' "$RAW" |
		sort -g | awk '{v[NR] = $1} END {
			if (NR == 0) exit
			if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

TABLE="$TMP/table.md"
declare -A ADDED
{
	echo "| workload | conns | direct calls/s | Sluice calls/s | Sluice / direct | direct p50 | Sluice p50 | added p50 | direct p99 | Sluice p99 | Sluice CPU us/call | server CPU us/call (direct / via Sluice) | Sluice allocs/call | Sluice KB/call |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for w in $WORKLOADS; do
		for c in $CONCS; do
			drps=$(median "$w" "$c" direct 5)
			srps=$(median "$w" "$c" sluice 5)
			dp50=$(median "$w" "$c" direct 6)
			sp50=$(median "$w" "$c" sluice 6)
			dp99=$(median "$w" "$c" direct 7)
			sp99=$(median "$w" "$c" sluice 7)
			scpu=$(median "$w" "$c" sluice 9)
			ucd=$(median "$w" "$c" direct 10)
			ucs=$(median "$w" "$c" sluice 10)
			sal=$(median "$w" "$c" sluice 11)
			sby=$(median "$w" "$c" sluice 12)
			ratio=n/a added=n/a
			[[ -n "$drps" && -n "$srps" ]] && ratio=$(awk -v a="$srps" -v b="$drps" 'BEGIN {printf "%.2f", a / b}')
			if [[ -n "$dp50" && -n "$sp50" ]]; then
				added=$(awk -v a="$sp50" -v b="$dp50" 'BEGIN {printf "%+.0f us", a - b}')
				((c == 1)) && ADDED[$w]=$(awk -v a="$sp50" -v b="$dp50" 'BEGIN {printf "%.0f", a - b}')
			fi
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s |\n' "$w" "$c" \
				"$(fmt '%.0f' "$drps")" "$(fmt '%.0f' "$srps")" "$ratio" "$(fmt '%.0f us' "$dp50")" "$(fmt '%.0f us' "$sp50")" "$added" \
				"$(fmt '%.0f us' "$dp99")" "$(fmt '%.0f us' "$sp99")" "$(fmt '%.1f' "$scpu")" "$(fmt '%.1f' "$ucd")" "$(fmt '%.1f' "$ucs")" \
				"$(fmt '%.0f' "$sal")" "$(awk -v v="$sby" 'BEGIN {if (v == "") print "n/a"; else printf "%.1f", v / 1000}')"
		done
	done
	echo
	echo "Against the targets:"
	echo
	for w in $WORKLOADS; do
		if [[ -n "${ADDED[$w]:-}" ]]; then
			awk -v a="${ADDED[$w]}" -v w="$w" 'BEGIN {printf "- added p50 per tool call at c1, %s: %+d us (target <= 100 us): %s\n", w, a, (a <= 100 ? "met" : "MISSED")}'
		fi
	done
	if [[ -n "$IDLE_RESULT" ]]; then
		awk -v a="$IDLE_RESULT" -v n="$OPEN" 'BEGIN {printf "- Sluice RSS per idle proxied SSE stream, %d streams: %.1f KiB (target < 32 KiB): %s\n", n, a, (a < 32 ? "met" : "MISSED")}'
	fi
} >"$TABLE"

{
	echo
	echo "## Raw runs"
	column -t -s $'\t' "$RAW" 2>/dev/null || cat "$RAW"
	echo
	echo "## Environment"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- nproc: $(nproc); CPU: $(lscpu | awk -F: '/^Model name/ {gsub(/^[ \t]+/, "", $2); print $2; exit}')"
	echo "- kernel: $(uname -r); $(go version | awk '{print $3}'); go-sdk $(cd "$REPO" && go list -m -f '{{.Version}}' github.com/modelcontextprotocol/go-sdk 2>/dev/null)"
	echo "- sluice: built $BUILT_AT from $BUILT_FROM"
	echo "- rounds: $ROUNDS x $DUR per run (0.5 s unrecorded warm-up each), interleaved direct/sluice"
	if [[ "$BENCH_PIN" == 1 ]]; then
		echo "- other work on CPU 1 during runs: max ${FOREIGN_MAX}% (foreign_cpu1_pct; above ~10% the run is disturbed); re-runs: $RETRIED_RUNS"
	fi
	echo "- pinning: $([[ "$BENCH_PIN" == 1 ]] && echo 'mcpclient taskset -c 0; MCP server and Sluice taskset -c 1' || echo none); GOMAXPROCS=${BENCH_GOMAXPROCS:-runtime default}"
	echo
	echo "## Results (medians over rounds; compare within this run only)"
	cat "$TABLE"
	if [[ -s "$PROFILES" ]]; then
		echo
		echo "## Where Sluice's time goes"
		echo
		cat "$PROFILES"
	fi
	if [[ -s "$IDLE_MD" ]]; then
		echo
		echo "## Idle proxied SSE streams (fresh Sluice, 2025-11-25 sessions, GET streams)"
		echo
		cat "$IDLE_MD"
	fi
}

if [[ -n "${BENCH_OUT:-}" ]]; then
	mkdir -p "$BENCH_OUT"
	cp "$RAW" "$TABLE" "$BENCH_OUT/"
	[[ -s "$PROFILES" ]] && cp "$PROFILES" "$BENCH_OUT/"
	[[ -s "$IDLE_MD" ]] && cp "$IDLE_MD" "$BENCH_OUT/"
	cp "$TMP"/*.pprof "$BENCH_OUT/" 2>/dev/null || true
	cp "$TMP/sluice" "$BENCH_OUT/sluice.bin" 2>/dev/null || true
	log "results copied to $BENCH_OUT"
fi
log "done in $(($(date +%s) - START_TS))s"
