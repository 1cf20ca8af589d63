#!/usr/bin/env bash
# Sluice AI-gateway benchmark: a fake OpenAI-compatible provider
# (bench/aiupstream) reached directly, through Sluice's ai route, and through
# Portkey's open-source gateway (npm @portkey-ai/gateway), all interleaved.
#
#   bash bench/ai.sh                  # 3 interleaved rounds (~3.5 min on a quiet machine)
#   BENCH_QUICK=1 bash bench/ai.sh    # smoke mode: 1 short round (under a minute)
#
# It measures, per target:
#   - non-streaming chat completions with wrk and a fixed body: p50 and p99
#     at 1 connection, req/s and gateway CPU per request at CONNS connections;
#   - time to first token of streams, sequential requests on one connection
#     (bench/aiupstream/ttft), median;
#   - gateway CPU per 1,000 relayed stream chunks (utime+stime from
#     /proc/PID/stat around STREAM_CONNS concurrent long streams).
#
# Environment knobs (all optional):
#   ROUNDS=3            interleaved rounds (round-robin over every target)
#   DUR=5s              length of each wrk run and of each stream-CPU run
#   CONNS=64            connections of the throughput run (latency uses 1)
#   TTFT_N=200          sequential streams per TTFT run
#   TTFT_CHUNKS=20      content chunks of a TTFT stream (max_tokens)
#   STREAM_CONNS=16     concurrent streams of the CPU-per-chunk run
#   STREAM_CHUNKS=1000  content chunks of a CPU-run stream (max_tokens)
#   CHUNK_INTERVAL=1ms  gap between a stream's chunks at the fake provider
#   BENCH_AI_LATENCY=0  the fake provider's fixed delay before each answer
#   BENCH_QUICK=1       ROUNDS=1 DUR=1s TTFT_N=30, shorter warm-up
#   BENCH_PIN=1         wrk and clients on CPU 0, gateways and the fake on CPU 1
#   BENCH_GOMAXPROCS    GOMAXPROCS of the Go processes: 1 when pinned
#   BENCH_PORT_BASE=18700  first port tried; every port is checked free first
#   BENCH_MAX_SECONDS=900  budget of the measuring phase; later runs are skipped
#   BENCH_WAIT_IDLE=30  seconds to wait for a busy machine to go quiet
#   BENCH_RETRIES=2     re-runs of a run in which other programs took >10% of CPU 1 (1 quick)
#   BENCH_OUT=DIR       also copy the raw TSVs and the table into DIR
#   BENCH_KEEP=1        keep the temp dir (configs, logs, npm install)
#   BENCH_SKIP_SLUICE=1 leave Sluice out
#   BENCH_SKIP_PORTKEY=1 leave Portkey out (no npm)
#   BENCH_PORTKEY_VERSION=1.15.2   the @portkey-ai/gateway version installed
#   BENCH_PORTKEY_HONO=1.13.5      @hono/node-server version forced with npm
#                       overrides ("" for whatever npm resolves; see README)
#
# Everything listens on 127.0.0.1 and all traffic stays on loopback. Every
# process the script starts is stopped by its PID on exit; nothing else is
# touched.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
START_TS=$(date +%s)

ROUNDS=${ROUNDS:-3}
DUR=${DUR:-5s}
CONNS=${CONNS:-64}
TTFT_N=${TTFT_N:-200}
TTFT_CHUNKS=${TTFT_CHUNKS:-20}
STREAM_CONNS=${STREAM_CONNS:-16}
STREAM_CHUNKS=${STREAM_CHUNKS:-1000}
CHUNK_INTERVAL=${CHUNK_INTERVAL:-1ms}
LATENCY=${BENCH_AI_LATENCY:-0}
WARM_STREAMS=1
RETRY_WAIT=15
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
	ROUNDS=1
	DUR=1s
	TTFT_N=30
	WARM_STREAMS=0
	RETRY_WAIT=5
fi
BENCH_PIN=${BENCH_PIN:-1}
if [[ "$BENCH_PIN" == 1 ]]; then
	BENCH_GOMAXPROCS=${BENCH_GOMAXPROCS-1}
else
	BENCH_GOMAXPROCS=${BENCH_GOMAXPROCS-}
fi
BENCH_PORT_BASE=${BENCH_PORT_BASE:-18700}
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-900}
RETRIES=${BENCH_RETRIES:-2}
[[ "${BENCH_QUICK:-0}" == 1 ]] && RETRIES=${BENCH_RETRIES:-1}
FOREIGN_LIMIT=10
PORTKEY_VERSION=${BENCH_PORTKEY_VERSION:-1.15.2}
PORTKEY_HONO=${BENCH_PORTKEY_HONO-1.13.5}

DUR_S=${DUR%s}
if ! [[ "$DUR_S" =~ ^[0-9]+$ ]] || ((DUR_S < 1 || DUR_S > 120)); then
	echo "ai.sh: DUR must be whole seconds between 1 and 120 (got '$DUR')" >&2
	exit 2
fi
if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 20)); then
	echo "ai.sh: ROUNDS must be 1..20 (got '$ROUNDS')" >&2
	exit 2
fi
for v in CONNS TTFT_N TTFT_CHUNKS STREAM_CONNS STREAM_CHUNKS; do
	if ! [[ "${!v}" =~ ^[0-9]+$ ]] || ((${!v} < 1 || ${!v} > 100000)); then
		echo "ai.sh: $v must be a whole number 1..100000 (got '${!v}')" >&2
		exit 2
	fi
done
DUR="${DUR_S}s"

log() { printf '[ai-bench %3ds] %s\n' "$(($(date +%s) - START_TS))" "$*" >&2; }
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # die, cleanup, pick, wait_quiet ...

# ---------------------------------------------------------------- tools
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
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
# The servers get no proxy settings, so that every call stays on loopback
# (Portkey sends its upstream calls through HTTP_PROXY when it is set).
SRV_ENV=(env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy -u ALL_PROXY -u all_proxy)
GOENV=("${SRV_ENV[@]}")
if [[ -n "$BENCH_GOMAXPROCS" ]]; then
	GOENV+=("GOMAXPROCS=$BENCH_GOMAXPROCS")
fi

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-ai-bench.XXXXXX")
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build
log "building Go binaries into $TMP"
(cd "$REPO" && timeout 300 go build -o "$TMP/aiupstream" ./bench/aiupstream &&
	timeout 300 go build -o "$TMP/ttft" ./bench/aiupstream/ttft) || die "building bench/aiupstream failed"
HAVE_SLUICE=0
if [[ "${BENCH_SKIP_SLUICE:-0}" == 1 ]]; then
	log "SKIP sluice: BENCH_SKIP_SLUICE=1"
elif (cd "$REPO" && timeout 300 go build -o "$TMP/sluice" ./cmd/sluice) >"$TMP/sluice-build.log" 2>&1; then
	HAVE_SLUICE=1
else
	log "SKIP sluice: 'go build ./cmd/sluice' failed:"
	sed 's/^/    /' "$TMP/sluice-build.log" | head -20 >&2
fi

# Portkey: installed with npm into the temp dir. No network, no node or a
# failed install skips it with a message; nothing else depends on it.
HAVE_PORTKEY=0
PK_DIR="$TMP/portkey"
PK_MAIN="$PK_DIR/node_modules/@portkey-ai/gateway/build/start-server.js"
if [[ "${BENCH_SKIP_PORTKEY:-0}" == 1 ]]; then
	log "SKIP portkey: BENCH_SKIP_PORTKEY=1"
elif ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	log "SKIP portkey: node and npm are needed to install @portkey-ai/gateway"
else
	mkdir -p "$PK_DIR"
	# @portkey-ai/gateway asks for @hono/node-server ^1.3.3; npm resolves
	# 1.19.x, with which Portkey's streaming answers fail ("TypeError:
	# immutable", Portkey-AI/gateway#1389). Portkey's own repository pins
	# 1.13.5, so the same is forced here with npm overrides.
	{
		printf '{"private": true, "dependencies": {"@portkey-ai/gateway": "%s"}' "$PORTKEY_VERSION"
		if [[ -n "$PORTKEY_HONO" ]]; then
			printf ', "overrides": {"@hono/node-server": "%s"}' "$PORTKEY_HONO"
		fi
		printf '}\n'
	} >"$PK_DIR/package.json"
	log "installing @portkey-ai/gateway@$PORTKEY_VERSION with npm into $PK_DIR"
	if (cd "$PK_DIR" && timeout 240 npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
		--fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000) >"$TMP/npm.log" 2>&1 &&
		[[ -f "$PK_MAIN" ]]; then
		HAVE_PORTKEY=1
	else
		log "SKIP portkey: 'npm install @portkey-ai/gateway@$PORTKEY_VERSION' failed (no network?):"
		grep -v '^npm error *at ' "$TMP/npm.log" | head -n 6 | sed 's/^/    /' >&2
	fi
fi

# ---------------------------------------------------------------- ports
NEXT_PORT=$BENCH_PORT_BASE
UP_PORT="" SL_PORT="" SL_STATUS_PORT="" PK_PORT=""
pick UP_PORT
pick SL_PORT
pick SL_STATUS_PORT
pick PK_PORT

# ---------------------------------------------------------------- inputs
# The same request bytes go to every target: the Portkey headers are
# ignored by the fake and by Sluice, and the client key by Sluice (which
# sends its own provider key).
HDRS=(
	"Authorization: Bearer sk-bench-client"
	"x-portkey-provider: openai"
	"x-portkey-custom-host: http://127.0.0.1:$UP_PORT/v1"
)
MSGS='"messages":[{"role":"system","content":"You are a concise assistant for an engineering team. Answer in plain English, in at most three sentences."},{"role":"user","content":"What does an AI gateway do, and why would a team put one in front of its model providers?"}]'
printf '{"model":"gpt-4o-mini",%s,"temperature":0.2,"max_tokens":256}\n' "$MSGS" >"$TMP/chat.json"
printf '{"model":"gpt-4o-mini",%s,"temperature":0.2,"max_tokens":%d,"stream":true,"stream_options":{"include_usage":true}}\n' \
	"$MSGS" "$TTFT_CHUNKS" >"$TMP/stream.json"
printf '{"model":"gpt-4o-mini",%s,"temperature":0.2,"max_tokens":%d,"stream":true,"stream_options":{"include_usage":true}}\n' \
	"$MSGS" "$STREAM_CHUNKS" >"$TMP/stream-long.json"
{
	echo 'wrk.method = "POST"'
	echo "local f = assert(io.open(\"$TMP/chat.json\", \"rb\"))"
	echo 'wrk.body = f:read("*a")'
	echo 'f:close()'
	echo 'wrk.headers["Content-Type"] = "application/json"'
	for h in "${HDRS[@]}"; do
		printf 'wrk.headers["%s"] = "%s"\n' "${h%%: *}" "${h#*: }"
	done
} >"$TMP/chat.lua"
CURL_H=(-H "Content-Type: application/json")
TTFT_H=()
for h in "${HDRS[@]}"; do
	CURL_H+=(-H "$h")
	TTFT_H+=(-H "$h")
done

# ---------------------------------------------------------------- start
wait_http() { # name url pid -> 0 when url answers (any HTTP status) within ~10 s
	local name=$1 url=$2 pid=$3 i code
	for ((i = 0; i < 100; i++)); do
		if ! is_alive "$pid"; then
			log "$name (pid $pid) exited during startup"
			return 1
		fi
		code=$(curl -sS --noproxy '*' --max-time 1 -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)
		if [[ -n "$code" && "$code" != 000 ]]; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not answer $url within 10 s"
	return 1
}

log "fake provider on 127.0.0.1:$UP_PORT (latency $LATENCY, chunks $CHUNK_INTERVAL apart)"
"${PIN_SERVER[@]}" "${GOENV[@]}" "$TMP/aiupstream" -addr "127.0.0.1:$UP_PORT" -latency "$LATENCY" \
	-chunks "$STREAM_CHUNKS" -chunk-interval "$CHUNK_INTERVAL" 2>"$TMP/aiupstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
wait_http aiupstream "http://127.0.0.1:$UP_PORT/v1/models" "$UP_PID" || {
	show_log "$TMP/aiupstream.log"
	die "the fake provider failed to start"
}

T_NAME=()
T_URL=()
T_PID=()
add_target() {
	T_NAME+=("$1")
	T_URL+=("$2")
	T_PID+=("$3")
}
add_target direct "http://127.0.0.1:$UP_PORT/v1/chat/completions" "$UP_PID"

if [[ "$HAVE_SLUICE" == 1 ]]; then
	cat >"$TMP/sluice.yaml" <<EOF
listeners: [{addr: 127.0.0.1:$SL_PORT}]
status: {addr: 127.0.0.1:$SL_STATUS_PORT}
log: {access: false}
reload: {watch: false}
providers:
  - name: fake
    type: openai-compatible
    base_url: http://127.0.0.1:$UP_PORT/v1
    api_keys: [sk-bench-provider]
routes:
  - name: llm
    match: {paths: ["/v1/*"]}
    ai:
      models:
        - name: gpt-4o-mini
          targets: [{provider: fake, model: gpt-4o-mini}]
EOF
	if ! timeout 30 "$TMP/sluice" validate -c "$TMP/sluice.yaml" >"$TMP/sluice-validate.log" 2>&1; then
		show_log "$TMP/sluice-validate.log"
		die "sluice validate refused the generated config $TMP/sluice.yaml"
	fi
	log "sluice on 127.0.0.1:$SL_PORT"
	"${PIN_SERVER[@]}" "${GOENV[@]}" "$TMP/sluice" run -c "$TMP/sluice.yaml" >/dev/null 2>"$TMP/sluice.log" &
	SL_PID=$!
	PIDS+=("$SL_PID")
	if ! wait_http sluice "http://127.0.0.1:$SL_PORT/v1/models" "$SL_PID"; then
		show_log "$TMP/sluice.log"
		die "sluice did not start with $TMP/sluice.yaml"
	fi
	add_target sluice "http://127.0.0.1:$SL_PORT/v1/chat/completions" "$SL_PID"
fi

if [[ "$HAVE_PORTKEY" == 1 ]]; then
	# Portkey's server takes a port but no address and listens on every
	# interface; this preload makes a listen without a host bind 127.0.0.1.
	cat >"$TMP/loopback.mjs" <<'EOF'
import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args[1] === undefined || typeof args[1] === 'function')) {
    if (args[1] === undefined) args[1] = '127.0.0.1'; else args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
EOF
	log "portkey on 127.0.0.1:$PK_PORT (node $(node --version))"
	# TRUSTED_CUSTOM_HOSTS: the custom hosts Portkey lets through to private
	# addresses; its default list has 127.0.0.1 too, this pins it down.
	"${PIN_SERVER[@]}" "${SRV_ENV[@]}" NODE_ENV=production TRUSTED_CUSTOM_HOSTS=127.0.0.1 \
		node --import "file://$TMP/loopback.mjs" "$PK_MAIN" \
		"--port=$PK_PORT" --headless >"$TMP/portkey.log" 2>&1 &
	PK_PID=$!
	PIDS+=("$PK_PID")
	if wait_http portkey "http://127.0.0.1:$PK_PORT/" "$PK_PID"; then
		add_target portkey "http://127.0.0.1:$PK_PORT/v1/chat/completions" "$PK_PID"
		if ss -Htln "sport = :$PK_PORT" | awk '{print $4}' | grep -qv '^127\.0\.0\.1:'; then
			log "WARNING: portkey listens beyond 127.0.0.1: $(ss -Htln "sport = :$PK_PORT" | awk '{print $4}' | tr '\n' ' ')"
		fi
	else
		show_log "$TMP/portkey.log"
		log "SKIP portkey: it did not start"
		stop_pid "$PK_PID"
		HAVE_PORTKEY=0
	fi
fi

# ---------------------------------------------------------------- checks
# Every target must relay the fake's answer whole before anything is
# measured: the non-streaming completion with its usage, and both stream
# lengths with every content chunk and data: [DONE].
check_target() { # index -> 0 if the target answers correctly
	local i=$1 name=${T_NAME[$1]} url=${T_URL[$1]} got out
	got=$(timeout 10 curl -sS --noproxy '*' --max-time 5 "${CURL_H[@]}" --data-binary "@$TMP/chat.json" "$url" 2>&1 || true)
	if [[ "$got" != *'without the client noticing."'* || "$got" != *'"usage":{"prompt_tokens":'* ]]; then
		log "$name: non-streaming answer is not the fake's: ${got:0:300}"
		return 1
	fi
	got=$(timeout 10 curl -sS -N --noproxy '*' --max-time 5 "${CURL_H[@]}" --data-binary "@$TMP/stream.json" "$url" 2>&1 || true)
	if [[ "$got" != *'"choices":[],"usage":{"prompt_tokens":'* || "$got" != *'data: [DONE]'* ]]; then
		log "$name: stream lacks the usage chunk or data: [DONE]: ${got:0:300}"
		return 1
	fi
	out=$(timeout 30 "$TMP/ttft" -url "$url" -body "$TMP/stream.json" "${TTFT_H[@]}" -n 3 -warmup 0 -expect "$TTFT_CHUNKS" 2>&1 || true)
	if [[ "$out" != *" errors=0 "* ]]; then
		log "$name: short streams failed: $out"
		return 1
	fi
	out=$(timeout 60 "$TMP/ttft" -url "$url" -body "$TMP/stream-long.json" "${TTFT_H[@]}" -n 1 -warmup 0 -expect "$STREAM_CHUNKS" 2>&1 || true)
	if [[ "$out" != *" errors=0 "* ]]; then
		log "$name: a long stream failed: $out"
		return 1
	fi
	return 0
}
KEEP_NAME=() KEEP_URL=() KEEP_PID=()
for i in "${!T_NAME[@]}"; do
	if check_target "$i"; then
		KEEP_NAME+=("${T_NAME[$i]}")
		KEEP_URL+=("${T_URL[$i]}")
		KEEP_PID+=("${T_PID[$i]}")
		continue
	fi
	case "${T_NAME[$i]}" in
	direct) die "the fake provider does not answer as expected" ;;
	sluice)
		show_log "$TMP/sluice.log"
		die "sluice did not relay the fake provider's answers correctly (see above); not measuring around it"
		;;
	*)
		show_log "$TMP/portkey.log"
		log "SKIP ${T_NAME[$i]}: it did not relay the fake provider's answers correctly"
		;;
	esac
done
T_NAME=("${KEEP_NAME[@]}")
T_URL=("${KEEP_URL[@]}")
T_PID=("${KEEP_PID[@]}")

# ---------------------------------------------------------------- measure
CLK_TCK=$(getconf CLK_TCK)
RAW="$TMP/raw.tsv"
TTFT_TSV="$TMP/ttft.tsv"
CHUNK_TSV="$TMP/chunks.tsv"
printf 'round\ttarget\tconns\treq_per_s\tp50_us\tp99_us\trequests\tgateway_cpu_us_per_req\tupstream_cpu_us_per_req\terrors\tforeign_cpu1_pct\n' >"$RAW"
printf 'round\ttarget\tstreams\tttft_p50_us\tttft_p90_us\tfirst_event_p50_us\tstream_total_p50_us\terrors\tforeign_cpu1_pct\n' >"$TTFT_TSV"
printf 'round\ttarget\tstreams\tevents\tseconds\tgateway_cpu_us_per_1k_events\tupstream_cpu_us_per_1k_events\terrors\tforeign_cpu1_pct\n' >"$CHUNK_TSV"

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

kv() { # key text -> value of key=value in text
	grep -o "\b$1=[^ ]*" <<<"$2" | head -n1 | cut -d= -f2
}

# Around each run: CPU ticks of the gateway and of the fake, and CPU 1's
# busy time, to tell the run's own work from other programs'.
snap_begin() { # pid
	S_P0=$(proc_ticks "$1")
	S_U0=$(proc_ticks "$UP_PID")
	S_C0=$(cpu1_busy)
	S_T0=$(date +%s%N)
}
snap_end() { # pid -> S_PT S_UT (ticks used) and M_FOREIGN
	local pid=$1 ours
	local t1 c1
	t1=$(date +%s%N)
	c1=$(cpu1_busy)
	S_PT=$(($(proc_ticks "$pid") - S_P0))
	S_UT=$(($(proc_ticks "$UP_PID") - S_U0))
	ours=$S_PT
	[[ "$pid" != "$UP_PID" ]] && ours=$((ours + S_UT))
	if [[ "$BENCH_PIN" == 1 ]]; then
		M_FOREIGN=$(awk -v b="$((c1 - S_C0))" -v o="$ours" -v ns="$((t1 - S_T0))" -v t="$CLK_TCK" \
			'BEGIN {f = (b - o) / (ns / 1e9 * t) * 100; if (f < 0) f = 0; printf "%.0f", f}')
	else
		M_FOREIGN=n/a
	fi
}
per() { # ticks count scale -> CPU microseconds per (count/scale), 1 decimal
	awk -v a="$1" -v n="$2" -v s="$3" -v t="$CLK_TCK" 'BEGIN {printf "%.1f", n ? a / t * 1e6 / n * s : 0}'
}

measure_wrk() { # round index conns -> M_LINE, M_ERRS, M_MSG
	local r=$1 i=$2 conns=$3 out rps p50 p99 reqs
	snap_begin "${T_PID[$i]}"
	if ! out=$(timeout $((DUR_S + 20)) "${PIN_CLIENT[@]}" wrk -t1 "-c$conns" "-d$DUR" --latency -s "$TMP/chat.lua" "${T_URL[$i]}" 2>&1); then
		log "wrk against ${T_NAME[$i]} failed: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
		return 1
	fi
	snap_end "${T_PID[$i]}"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")
	p99=$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	M_ERRS=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {for (k = 4; k <= NF; k += 2) {gsub(",", "", $k); n += $k}} END {print n + 0}' <<<"$out")
	if [[ -z "$rps" || -z "$reqs" || "$reqs" == 0 ]]; then
		log "could not parse wrk output for ${T_NAME[$i]}"
		return 1
	fi
	M_LINE=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$r" "${T_NAME[$i]}" "$conns" "$rps" "$p50" "$p99" "$reqs" \
		"$(per "$S_PT" "$reqs" 1)" "$(per "$S_UT" "$reqs" 1)" "$M_ERRS" "$M_FOREIGN")
	M_MSG="c$conns $(printf '%9.0f' "$rps") req/s  p50 ${p50}us  p99 ${p99}us  cpu $(per "$S_PT" "$reqs" 1)us/req"
}

measure_ttft() { # round index -> M_LINE, M_ERRS, M_MSG
	local r=$1 i=$2 out
	snap_begin "${T_PID[$i]}"
	if ! out=$(timeout $((TTFT_N * 2 + 60)) "${PIN_CLIENT[@]}" "$TMP/ttft" -url "${T_URL[$i]}" -body "$TMP/stream.json" \
		"${TTFT_H[@]}" -n "$TTFT_N" -warmup 2 -expect "$TTFT_CHUNKS" 2>&1); then
		log "ttft against ${T_NAME[$i]} failed: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
		return 1
	fi
	snap_end "${T_PID[$i]}"
	M_ERRS=$(kv errors "$out")
	[[ "$M_ERRS" =~ ^[0-9]+$ ]] || {
		log "could not parse ttft output for ${T_NAME[$i]}: $out"
		return 1
	}
	((M_ERRS == 0)) || log "${T_NAME[$i]}: $M_ERRS stream errors; last: $(grep -o 'last_error=.*' <<<"$out")"
	M_LINE=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$r" "${T_NAME[$i]}" "$TTFT_N" "$(kv ttft_p50_us "$out")" \
		"$(kv ttft_p90_us "$out")" "$(kv first_event_p50_us "$out")" "$(kv total_p50_us "$out")" "$M_ERRS" "$M_FOREIGN")
	M_MSG="ttft p50 $(kv ttft_p50_us "$out")us  p90 $(kv ttft_p90_us "$out")us  stream $(kv total_p50_us "$out")us"
}

measure_chunks() { # round index -> M_LINE, M_ERRS, M_MSG
	local r=$1 i=$2 out ev
	snap_begin "${T_PID[$i]}"
	if ! out=$(timeout $((DUR_S + 90)) "${PIN_CLIENT[@]}" "$TMP/ttft" -url "${T_URL[$i]}" -body "$TMP/stream-long.json" \
		"${TTFT_H[@]}" -c "$STREAM_CONNS" -d "$DUR" -warmup 0 -timeout 60s -expect "$STREAM_CHUNKS" 2>&1); then
		log "stream load against ${T_NAME[$i]} failed: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
		return 1
	fi
	snap_end "${T_PID[$i]}"
	M_ERRS=$(kv errors "$out")
	ev=$(kv events "$out")
	if ! [[ "$M_ERRS" =~ ^[0-9]+$ && "$ev" =~ ^[0-9]+$ ]] || ((ev == 0)); then
		log "could not parse stream load output for ${T_NAME[$i]}: $out"
		return 1
	fi
	((M_ERRS == 0)) || log "${T_NAME[$i]}: $M_ERRS stream errors; last: $(grep -o 'last_error=.*' <<<"$out")"
	M_LINE=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$r" "${T_NAME[$i]}" "$(kv streams "$out")" "$ev" \
		"$(kv seconds "$out")" "$(per "$S_PT" "$ev" 1000)" "$(per "$S_UT" "$ev" 1000)" "$M_ERRS" "$M_FOREIGN")
	M_MSG="$(kv streams "$out") streams, $ev events  cpu $(per "$S_PT" "$ev" 1000)us/1k events"
}

SKIPPED_RUNS=0
RETRIED_RUNS=0
run_one() { # kind file round index [conns]: one recorded run, retried while other work disturbs it
	local kind=$1 file=$2 r=$3 i=$4 attempt need
	local name=${T_NAME[$i]} pid=${T_PID[$i]}
	need=$((DUR_S + 5))
	for ((attempt = 0; ; attempt++)); do
		if (($(budget_left) < need)); then
			SKIPPED_RUNS=$((SKIPPED_RUNS + 1))
			return 0
		fi
		if ! is_alive "$pid"; then
			log "$name (pid $pid) is gone; skipping its run"
			SKIPPED_RUNS=$((SKIPPED_RUNS + 1))
			return 0
		fi
		"measure_$kind" "$r" "$i" "${@:5}" || return 0
		if [[ "$M_FOREIGN" != n/a ]] && ((M_FOREIGN > FOREIGN_LIMIT && attempt < RETRIES)) &&
			(($(budget_left) >= 2 * need + 15)); then
			log "round $r  $kind  $name disturbed (other work took ${M_FOREIGN}% of CPU 1): retrying"
			RETRIED_RUNS=$((RETRIED_RUNS + 1))
			wait_quiet "$RETRY_WAIT" || true
			continue
		fi
		break
	done
	echo "$M_LINE" >>"$file"
	if ((M_ERRS > 0)); then
		log "WARNING: $name had $M_ERRS errors in round $r ($kind)"
	fi
	log "round $r  $(printf '%-8s' "$name") $M_MSG  foreign cpu1 ${M_FOREIGN}%"
}

NT=${#T_NAME[@]}
log "targets: ${T_NAME[*]}"
log "pinning: $([[ "$BENCH_PIN" == 1 ]] && echo 'clients on CPU 0, gateways+fake provider on CPU 1' || echo none); GOMAXPROCS=${BENCH_GOMAXPROCS:-default}"
log "measuring: $ROUNDS round(s) x $NT targets x (wrk c$CONNS + wrk c1 $DUR, $TTFT_N streams of $TTFT_CHUNKS chunks, $STREAM_CONNS streams of $STREAM_CHUNKS chunks for $DUR)"
WAIT_IDLE=${BENCH_WAIT_IDLE:-30}
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
	WAIT_IDLE=${BENCH_WAIT_IDLE:-10}
fi
if ! wait_quiet "$WAIT_IDLE"; then
	log "WARNING: machine still busy with other work after ${WAIT_IDLE}s; measuring anyway (disturbed runs are retried up to $RETRIES times)"
fi
MEASURE_TS=$(date +%s)

# Warm-up (not recorded): connection pools, memory, and Node's JIT.
for i in "${!T_NAME[@]}"; do
	timeout 20 "${PIN_CLIENT[@]}" wrk -t1 "-c$CONNS" -d1s -s "$TMP/chat.lua" "${T_URL[$i]}" >/dev/null 2>&1 ||
		log "warm-up of ${T_NAME[$i]} failed"
	timeout 60 "${PIN_CLIENT[@]}" "$TMP/ttft" -url "${T_URL[$i]}" -body "$TMP/stream.json" "${TTFT_H[@]}" -n 10 -warmup 0 >/dev/null 2>&1 ||
		log "stream warm-up of ${T_NAME[$i]} failed"
	if [[ "$WARM_STREAMS" == 1 ]]; then
		timeout 90 "${PIN_CLIENT[@]}" "$TMP/ttft" -url "${T_URL[$i]}" -body "$TMP/stream-long.json" "${TTFT_H[@]}" \
			-c "$STREAM_CONNS" -d 1s -warmup 0 >/dev/null 2>&1 || log "long-stream warm-up of ${T_NAME[$i]} failed"
	fi
done

for ((r = 1; r <= ROUNDS; r++)); do
	for i in "${!T_NAME[@]}"; do
		run_one wrk "$RAW" "$r" "$i" "$CONNS"
	done
	for i in "${!T_NAME[@]}"; do
		run_one wrk "$RAW" "$r" "$i" 1
	done
	for i in "${!T_NAME[@]}"; do
		run_one ttft "$TTFT_TSV" "$r" "$i"
	done
	for i in "${!T_NAME[@]}"; do
		run_one chunks "$CHUNK_TSV" "$r" "$i"
	done
done
FOREIGN_MAX=$(awk -F'\t' 'FNR > 1 && $NF != "n/a" && $NF + 0 > m {m = $NF + 0} END {print m + 0}' "$RAW" "$TTFT_TSV" "$CHUNK_TSV")
if [[ "$BENCH_PIN" == 1 ]] && ((FOREIGN_MAX > FOREIGN_LIMIT)); then
	log "WARNING: other work took up to ${FOREIGN_MAX}% of CPU 1 during some runs (column foreign_cpu1_pct); rerun on a quiet machine"
fi
if ((RETRIED_RUNS > 0)); then
	log "$RETRIED_RUNS run(s) were disturbed by other work and measured again"
fi
if ((SKIPPED_RUNS > 0)); then
	log "WARNING: $SKIPPED_RUNS run(s) skipped (budget BENCH_MAX_SECONDS=$BENCH_MAX_SECONDS or a dead target)"
fi

# ---------------------------------------------------------------- report
median() { # file target column [conns] -> median over rounds (empty if none)
	awk -F'\t' -v t="$2" -v col="$3" -v c="${4:-}" 'NR > 1 && $2 == t && (c == "" || $3 == c) && $col != "NA" {print $col}' "$1" |
		sort -g | awk '{v[NR] = $1} END {
			if (NR == 0) exit
			if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
diff_of() { # printf-format a b scale -> (a-b)*scale, or n/a
	if [[ -n "$2" && -n "$3" ]]; then awk -v f="$1" -v a="$2" -v b="$3" -v s="$4" 'BEGIN {printf f, (a - b) * s}'; else echo n/a; fi
}

TABLE="$TMP/table.md"
D_RPS=$(median "$RAW" direct 4 "$CONNS")
D_P50=$(median "$RAW" direct 5 1)
D_TTFT=$(median "$TTFT_TSV" direct 4)
declare -A ADDED_P50 ADDED_TTFT CPU_1K
{
	echo "| target | req/s (c$CONNS) | / direct | p50 at c1 | p99 at c1 | added p50 over direct | CPU us/request | TTFT p50 | TTFT added over direct | CPU us per 1,000 chunks |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for name in "${T_NAME[@]}"; do
		rps=$(median "$RAW" "$name" 4 "$CONNS")
		p50=$(median "$RAW" "$name" 5 1)
		p99=$(median "$RAW" "$name" 6 1)
		cpu=$(median "$RAW" "$name" 8 "$CONNS")
		ttft=$(median "$TTFT_TSV" "$name" 4)
		c1k=$(median "$CHUNK_TSV" "$name" 6)
		ratio=n/a
		[[ -n "$rps" && -n "$D_RPS" ]] && ratio=$(awk -v a="$rps" -v b="$D_RPS" 'BEGIN {printf "%.2f", a / b}')
		if [[ "$name" == direct ]]; then
			added=0 tadd=0
			cpu_s="$(fmt '%.1f' "$cpu") (fake alone)"
			c1k_s="$(fmt '%.0f' "$c1k") (fake alone)"
		else
			added=$(diff_of '%+.0f us' "$p50" "$D_P50" 1)
			tadd=$(diff_of '%+.2f ms' "$ttft" "$D_TTFT" 0.001)
			cpu_s=$(fmt '%.1f' "$cpu")
			c1k_s=$(fmt '%.0f' "$c1k")
			ADDED_P50[$name]=$(diff_of '%.1f' "$p50" "$D_P50" 1)
			ADDED_TTFT[$name]=$(diff_of '%.1f' "$ttft" "$D_TTFT" 1)
			CPU_1K[$name]=${c1k:-n/a}
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$(fmt '%.0f' "$rps")" "$ratio" \
			"$(fmt '%.0f us' "$p50")" "$(fmt '%.0f us' "$p99")" "$added" "$cpu_s" \
			"$(awk -v v="$ttft" 'BEGIN {if (v == "") print "n/a"; else printf "%.2f ms", v / 1000}')" "$tadd" "$c1k_s"
	done
	if [[ " ${T_NAME[*]} " != *" sluice "* ]]; then
		echo "| sluice | not built/started in this run | | | | | | | | |"
	fi
	if [[ " ${T_NAME[*]} " != *" portkey "* ]]; then
		echo "| portkey | not installed/started in this run | | | | | | | | |"
	fi
	if [[ -n "${ADDED_P50[sluice]:-}" && "${ADDED_P50[sluice]}" != n/a ]]; then
		echo
		echo "Against the targets of issue 4 (Sluice):"
		echo
		awk -v a="${ADDED_P50[sluice]}" 'BEGIN {printf "- added p50 per non-streaming request at c1: %+.0f us (target <= 100 us): %s\n", a, (a <= 100 ? "met" : "MISSED")}'
		if [[ "${ADDED_TTFT[sluice]:-n/a}" != n/a ]]; then
			awk -v a="${ADDED_TTFT[sluice]}" 'BEGIN {printf "- time to first token added: %+.2f ms (target <= 1 ms): %s\n", a / 1000, (a <= 1000 ? "met" : "MISSED")}'
		fi
		if [[ -n "${ADDED_P50[portkey]:-}" && "${ADDED_P50[portkey]}" != n/a && "${ADDED_TTFT[portkey]:-n/a}" != n/a ]]; then
			awk -v s="${ADDED_P50[sluice]}" -v p="${ADDED_P50[portkey]}" -v st="${ADDED_TTFT[sluice]}" -v pt="${ADDED_TTFT[portkey]}" 'BEGIN {
				printf "- ahead of Portkey on added p50: %+.0f us vs %+.0f us: %s\n", s, p, (s < p ? "yes" : "NO")
				printf "- ahead of Portkey on TTFT added: %+.2f ms vs %+.2f ms: %s\n", st / 1000, pt / 1000, (st < pt ? "yes" : "NO") }'
			if [[ "${CPU_1K[sluice]}" != n/a && "${CPU_1K[portkey]:-n/a}" != n/a ]]; then
				awk -v s="${CPU_1K[sluice]}" -v p="${CPU_1K[portkey]}" 'BEGIN {
					printf "- relay CPU per 1,000 chunks: %.0f us vs Portkey %.0f us (%.2fx)\n", s, p, s / p }'
			fi
		fi
	fi
} >"$TABLE"

{
	echo
	echo "## Raw runs: non-streaming (wrk)"
	column -t -s $'\t' "$RAW" 2>/dev/null || cat "$RAW"
	echo
	echo "## Raw runs: time to first token ($TTFT_N sequential streams of $TTFT_CHUNKS chunks per run)"
	column -t -s $'\t' "$TTFT_TSV" 2>/dev/null || cat "$TTFT_TSV"
	echo
	echo "## Raw runs: relay CPU ($STREAM_CONNS concurrent streams of $STREAM_CHUNKS chunks, $CHUNK_INTERVAL apart, for $DUR)"
	column -t -s $'\t' "$CHUNK_TSV" 2>/dev/null || cat "$CHUNK_TSV"
	echo
	echo "## Environment"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- nproc: $(nproc); CPU: $(lscpu | awk -F: '/^Model name/ {gsub(/^[ \t]+/, "", $2); print $2; exit}')"
	echo "- kernel: $(uname -r); $(go version | awk '{print $3}'); $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
	if [[ "$HAVE_SLUICE" == 1 ]]; then
		echo "- sluice: built from $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$([[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -n1)" ]] && echo ' plus uncommitted changes')"
	fi
	if [[ "$HAVE_PORTKEY" == 1 ]]; then
		echo "- portkey: @portkey-ai/gateway $(node -p "require('$PK_DIR/node_modules/@portkey-ai/gateway/package.json').version" 2>/dev/null)," \
			"@hono/node-server $(node -p "require('$PK_DIR/node_modules/@hono/node-server/package.json').version" 2>/dev/null)," \
			"node $(node --version), NODE_ENV=production, --headless"
	fi
	echo "- fake provider: latency $LATENCY, chunks $CHUNK_INTERVAL apart; rounds: $ROUNDS x $DUR per run, interleaved"
	if [[ "$BENCH_PIN" == 1 ]]; then
		echo "- other work on CPU 1 during runs: max ${FOREIGN_MAX}% (foreign_cpu1_pct; above ~10% the run is disturbed)"
	fi
	echo "- pinning: $([[ "$BENCH_PIN" == 1 ]] && echo 'wrk and ttft taskset -c 0; fake provider and gateways taskset -c 1' || echo none); GOMAXPROCS=${BENCH_GOMAXPROCS:-runtime default}"
	echo
	echo "## Results (medians over rounds; compare within this run only)"
	cat "$TABLE"
}

if [[ -n "${BENCH_OUT:-}" ]]; then
	mkdir -p "$BENCH_OUT"
	cp "$RAW" "$TTFT_TSV" "$CHUNK_TSV" "$TABLE" "$BENCH_OUT/"
	log "results copied to $BENCH_OUT"
fi
log "done in $(($(date +%s) - START_TS))s"
