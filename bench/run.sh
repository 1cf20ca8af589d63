#!/usr/bin/env bash
# Sluice benchmark harness: direct upstream vs nginx vs a plain Go
# httputil.ReverseProxy vs Sluice (bare, and with access log + request-id).
#
#   bash bench/run.sh                 # 3 interleaved rounds of 5 s per target (~3-4 min)
#   BENCH_QUICK=1 bash bench/run.sh   # smoke mode: 1 round of 1 s (~30 s)
#
# Environment knobs (all optional):
#   ROUNDS=3            interleaved rounds (round-robin over every target)
#   DUR=5s              duration of each wrk run (whole seconds, "5" or "5s")
#   CONNS=64            connections of the throughput run (the latency run uses 1)
#   BENCH_QUICK=1       ROUNDS=1 DUR=1s, short SSE check
#   BENCH_PIN=1         pin wrk to CPU 0 and proxy+upstream to CPU 1 (0: no pinning)
#   BENCH_GOMAXPROCS    GOMAXPROCS of the Go processes: 1 when pinned, else the
#                       runtime default (set to "" to leave it to the runtime)
#   BENCH_NGINX_WORKERS nginx worker_processes: 1 when pinned (one core), else nproc
#   BENCH_PORT_BASE=18400  first port tried; every port is checked free first
#   BENCH_MAX_SECONDS=600  hard budget for the measuring phase; later runs are skipped
#   BENCH_WAIT_IDLE=30  seconds to wait for a busy machine to go quiet before measuring
#   BENCH_RETRIES=2     re-runs of a run in which other programs took >10% of CPU 1
#   BENCH_OUT=DIR       also copy raw results and the table into DIR
#   BENCH_KEEP=1        keep the temp dir (configs, logs) after exit
#   BENCH_SKIP_SLUICE=1 do not build or run sluice
#   BENCH_LIMITS=1      also run sluice+auth+limit (key-auth + limit-count local)
#                       and sluice+limit-redis (limit-count in a local redis-server)
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
SSE_N=200
SSE_REPS=3
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
	ROUNDS=1
	DUR=1s
	SSE_N=40
	SSE_REPS=1
fi
BENCH_PIN=${BENCH_PIN:-1}
if [[ "$BENCH_PIN" == 1 ]]; then
	# Proxy and upstream share CPU 1: one nginx worker, GOMAXPROCS=1 (the Go
	# runtime picks 1 under taskset anyway; 2 on one core measured 35-55% slower).
	BENCH_GOMAXPROCS=${BENCH_GOMAXPROCS-1}
	BENCH_NGINX_WORKERS=${BENCH_NGINX_WORKERS:-1}
else
	BENCH_GOMAXPROCS=${BENCH_GOMAXPROCS-}
	BENCH_NGINX_WORKERS=${BENCH_NGINX_WORKERS:-$(nproc)}
fi
BENCH_PORT_BASE=${BENCH_PORT_BASE:-18400}
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-600}
RETRIES=${BENCH_RETRIES:-2}
FOREIGN_LIMIT=10

DUR_S=${DUR%s}
if ! [[ "$DUR_S" =~ ^[0-9]+$ ]] || ((DUR_S < 1 || DUR_S > 120)); then
	echo "run.sh: DUR must be whole seconds between 1 and 120 (got '$DUR')" >&2
	exit 2
fi
if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 20)); then
	echo "run.sh: ROUNDS must be 1..20 (got '$ROUNDS')" >&2
	exit 2
fi
DUR="${DUR_S}s"

log() { printf '[bench %3ds] %s\n' "$(($(date +%s) - START_TS))" "$*" >&2; }
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # die, cleanup, pick, wait_quiet ...

# ---------------------------------------------------------------- tools
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
	need_apt+=(nginx)
fi
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
command -v ss >/dev/null 2>&1 || need_apt+=(iproute2)
BENCH_LIMITS=${BENCH_LIMITS:-1}
if [[ "$BENCH_LIMITS" == 1 ]] && ! command -v redis-server >/dev/null 2>&1; then
	need_apt+=(redis-server redis-tools)
fi
if ((${#need_apt[@]} > 0)); then
	SUDO=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 || die "missing ${need_apt[*]} and not root (no sudo)"
		SUDO=(sudo)
	fi
	log "installing ${need_apt[*]} with apt-get"
	if ! DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1; then
		"${SUDO[@]}" apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null
	fi
fi
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
command -v go >/dev/null 2>&1 || die "go is not on PATH"

if [[ "$BENCH_PIN" == 1 ]]; then
	(($(nproc) >= 2)) || die "pinning needs 2 CPUs (nproc=$(nproc)); run with BENCH_PIN=0"
	PIN_CLIENT=(taskset -c 0)
	PIN_SERVER=(taskset -c 1)
else
	PIN_CLIENT=()
	PIN_SERVER=()
fi
GOENV=()
if [[ -n "$BENCH_GOMAXPROCS" ]]; then
	GOENV=(env "GOMAXPROCS=$BENCH_GOMAXPROCS")
fi

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build
log "building Go binaries into $TMP"
(cd "$REPO" && go build -o "$TMP/upstream" ./bench/upstream && go build -o "$TMP/plainproxy" ./bench/plainproxy)
HAVE_SLUICE=0
if [[ "${BENCH_SKIP_SLUICE:-0}" == 1 ]]; then
	log "SKIP sluice: BENCH_SKIP_SLUICE=1"
elif [[ ! -d "$REPO/cmd/sluice" ]]; then
	log "SKIP sluice: $REPO/cmd/sluice does not exist yet (rows will be missing)"
elif (cd "$REPO" && go build -o "$TMP/sluice" ./cmd/sluice) >"$TMP/sluice-build.log" 2>&1; then
	HAVE_SLUICE=1
else
	log "SKIP sluice: 'go build ./cmd/sluice' failed:"
	sed 's/^/    /' "$TMP/sluice-build.log" | head -20 >&2
fi

# ---------------------------------------------------------------- ports
NEXT_PORT=$BENCH_PORT_BASE
UP_PORT="" NGX_PORT="" PLAIN_PORT="" SL_PORT="" SL_STATUS_PORT="" SLP_PORT="" SLP_STATUS_PORT=""
SLA_PORT="" SLA_STATUS_PORT="" SLR_PORT="" SLR_STATUS_PORT="" REDIS_PORT=""
# Every request carries this API key: the key-auth target needs it and the
# others ignore it, so all targets see the same request bytes.
BENCH_KEY=bench-key-0123456789
pick UP_PORT
pick NGX_PORT
pick PLAIN_PORT
pick SL_PORT
pick SL_STATUS_PORT
pick SLP_PORT
pick SLP_STATUS_PORT
pick SLA_PORT
pick SLA_STATUS_PORT
pick SLR_PORT
pick SLR_STATUS_PORT
pick REDIS_PORT

# ---------------------------------------------------------------- start
wait_http() { # name url pid -> 0 when url answers 200 within ~10 s
	local name=$1 url=$2 pid=$3 i
	for ((i = 0; i < 100; i++)); do
		if ! is_alive "$pid"; then
			log "$name (pid $pid) exited during startup"
			return 1
		fi
		if curl -fsS --max-time 1 -H "apikey: $BENCH_KEY" -o /dev/null "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not answer $url within 10 s"
	return 1
}

log "upstream on 127.0.0.1:$UP_PORT"
"${PIN_SERVER[@]}" "${GOENV[@]}" "$TMP/upstream" -addr "127.0.0.1:$UP_PORT" 2>"$TMP/upstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
wait_http upstream "http://127.0.0.1:$UP_PORT/" "$UP_PID" || {
	show_log "$TMP/upstream.log"
	die "upstream failed to start"
}
show_log "$TMP/upstream.log"

# Targets: parallel arrays, in the order they are run and printed.
T_NAME=()
T_PORT=()
T_PID=()
add_target() {
	T_NAME+=("$1")
	T_PORT+=("$2")
	T_PID+=("$3")
}
add_target direct "$UP_PORT" "$UP_PID"

# nginx: pinned to one core, so one worker (performance.md: workers = cores
# available to it); reuseport, no access log, keep-alive both sides.
mkdir -p "$TMP/nginx/tmp"
NGX_USER=""
if ((EUID == 0)); then
	NGX_USER="user $(id -un) $(id -gn);"
fi
cat >"$TMP/nginx/nginx.conf" <<EOF
$NGX_USER
worker_processes $BENCH_NGINX_WORKERS;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    keepalive_requests 1000000;
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGX_PORT reuseport;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /sse {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
NGX_ARGS=(-p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log")
if "$NGINX" -t -q "${NGX_ARGS[@]}" 2>"$TMP/nginx/t.log"; then
	log "nginx on 127.0.0.1:$NGX_PORT ($BENCH_NGINX_WORKERS worker)"
	"${PIN_SERVER[@]}" "$NGINX" "${NGX_ARGS[@]}" &
	NGX_PID=$!
	PIDS+=("$NGX_PID")
	if wait_http nginx "http://127.0.0.1:$NGX_PORT/" "$NGX_PID"; then
		add_target nginx "$NGX_PORT" "$NGX_PID"
	else
		show_log "$TMP/nginx/error.log"
		log "SKIP nginx: it did not start"
	fi
else
	show_log "$TMP/nginx/t.log"
	log "SKIP nginx: config test failed"
fi

log "plain Go proxy on 127.0.0.1:$PLAIN_PORT"
"${PIN_SERVER[@]}" "${GOENV[@]}" "$TMP/plainproxy" -addr "127.0.0.1:$PLAIN_PORT" -upstream "http://127.0.0.1:$UP_PORT" 2>"$TMP/plainproxy.log" &
PLAIN_PID=$!
PIDS+=("$PLAIN_PID")
if wait_http plainproxy "http://127.0.0.1:$PLAIN_PORT/" "$PLAIN_PID"; then
	add_target plain-go-proxy "$PLAIN_PORT" "$PLAIN_PID"
else
	show_log "$TMP/plainproxy.log"
	log "SKIP plain Go proxy: it did not start"
fi

sluice_config() { # file port status_port access(true|false) plugins(0|1|auth|redis)
	{
		if [[ "$5" == redis ]]; then
			echo "redis: {addr: 127.0.0.1:$REDIS_PORT, timeout: 200ms}"
		fi
		if [[ "$5" == auth ]]; then
			echo "consumers: [{name: bench, credentials: {key-auth: {key: $BENCH_KEY}}}]"
		fi
		echo "listeners: [{addr: 127.0.0.1:$2}]"
		echo "status: {addr: 127.0.0.1:$3}"
		echo "log: {access: $4}"
		echo "reload: {watch: false}"
		echo "upstreams:"
		echo "  - name: up"
		echo "    targets: [{url: http://127.0.0.1:$UP_PORT}]"
		echo "routes:"
		echo "  - name: all"
		echo "    match: {paths: [\"/*\"]}"
		echo "    upstream: up"
		case "$5" in
		1) echo "global_plugins: [{name: request-id}]" ;;
		auth)
			echo "    plugins:"
			echo "      - name: key-auth"
			echo "      - {name: limit-count, config: {count: 1000000000, window: 1h, key: consumer}}"
			;;
		redis)
			echo "    plugins:"
			echo "      - {name: limit-count, config: {count: 1000000000, window: 1h, key: ip, policy: redis, on_redis_error: deny}}"
			;;
		esac
	} >"$1"
}

start_sluice() { # target-name config port
	local name=$1 cfg=$2 port=$3 pid
	log "$name on 127.0.0.1:$port"
	# stdout (the access log, when on) goes to /dev/null; stderr is kept.
	"${PIN_SERVER[@]}" "${GOENV[@]}" "$TMP/sluice" run -c "$cfg" >/dev/null 2>"$TMP/$name.log" &
	pid=$!
	PIDS+=("$pid")
	if wait_http "$name" "http://127.0.0.1:$port/" "$pid"; then
		add_target "$name" "$port" "$pid"
	else
		show_log "$TMP/$name.log"
		log "SKIP $name: it did not start with $cfg"
		stop_pid "$pid"
	fi
}

if [[ "$HAVE_SLUICE" == 1 ]]; then
	sluice_config "$TMP/sluice.yaml" "$SL_PORT" "$SL_STATUS_PORT" false 0
	sluice_config "$TMP/sluice-plugins.yaml" "$SLP_PORT" "$SLP_STATUS_PORT" true 1
	start_sluice sluice "$TMP/sluice.yaml" "$SL_PORT"
	start_sluice sluice+plugins "$TMP/sluice-plugins.yaml" "$SLP_PORT"
	if [[ "$BENCH_LIMITS" == 1 ]]; then
		sluice_config "$TMP/sluice-auth.yaml" "$SLA_PORT" "$SLA_STATUS_PORT" false auth
		start_sluice sluice+auth+limit "$TMP/sluice-auth.yaml" "$SLA_PORT"
		# Redis shares CPU 1 with the proxies: its work is part of the cost.
		log "redis-server on 127.0.0.1:$REDIS_PORT"
		"${PIN_SERVER[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
			--dir "$TMP" >"$TMP/redis.log" 2>&1 &
		REDIS_PID=$!
		PIDS+=("$REDIS_PID")
		for ((k = 0; k < 50; k++)); do
			redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
			sleep 0.1
		done
		sluice_config "$TMP/sluice-redis.yaml" "$SLR_PORT" "$SLR_STATUS_PORT" false redis
		start_sluice sluice+limit-redis "$TMP/sluice-redis.yaml" "$SLR_PORT"
	fi
fi

# Every target must return the upstream's body before anything is measured.
for i in "${!T_NAME[@]}"; do
	got=$(curl -fsS --max-time 2 -H "apikey: $BENCH_KEY" "http://127.0.0.1:${T_PORT[$i]}/bench" || true)
	[[ "$got" == "{}" ]] || die "${T_NAME[$i]} returned '$got' instead of '{}'"
done

# sluice+plugins must really run its plugin: the response carries X-Request-Id.
for i in "${!T_NAME[@]}"; do
	if [[ "${T_NAME[$i]}" == sluice+plugins ]] &&
		! curl -fsS --max-time 2 -D - -o /dev/null "http://127.0.0.1:${T_PORT[$i]}/bench" | grep -qi '^x-request-id:'; then
		log "WARNING: sluice+plugins answered without an X-Request-Id header: is the request-id plugin active?"
	fi
done

# ---------------------------------------------------------------- measure
CLK_TCK=$(getconf CLK_TCK)
RAW="$TMP/raw.tsv"
printf 'round\ttarget\tconns\treq_per_s\tp50_us\trequests\tproxy_cpu_us_per_req\tupstream_cpu_us_per_req\terrors\tforeign_cpu1_pct\n' >"$RAW"

proc_ticks() { # utime+stime (clock ticks) of pid and its direct children (nginx workers)
	local total=0 p s
	local -a f
	for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
		[[ -r /proc/$p/stat ]] || continue
		s=$(<"/proc/$p/stat") || continue
		s=${s##*) }
		read -r -a f <<<"$s"
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}

cpu1_busy() { # busy clock ticks of CPU 1 since boot (user nice system irq softirq steal)
	awk '$1 == "cpu1" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

redis_commands() { # EVALSHA and EVAL calls (client round trips) so far, or empty
	# Not total_commands_processed: that also counts the redis.call()s run
	# inside each script.
	[[ -n "${REDIS_PID:-}" ]] || return 0
	redis-cli -p "$REDIS_PORT" info commandstats 2>/dev/null |
		awk -F'[:=,]' '/^cmdstat_(evalsha|eval):/ {n += $3} END {print n + 0}'
}
REDIS_CALLS=0 REDIS_REQS=0
SKIPPED_RUNS=0
RETRIED_RUNS=0
measure_once() { # index conns -> sets M_* ; non-zero if wrk failed or its output did not parse
	local i=$1 conns=$2
	local name=${T_NAME[$i]} url="http://127.0.0.1:${T_PORT[$i]}/" pid=${T_PID[$i]}
	local out p0 u0 p1 u1 r0 r1 c0 c1 t0 t1 ours
	M_RCALLS=""
	[[ "$name" == sluice+limit-redis ]] && M_RCALLS=$(redis_commands)
	p0=$(proc_ticks "$pid")
	u0=$(proc_ticks "$UP_PID")
	r0=0
	[[ -n "$M_RCALLS" ]] && r0=$(proc_ticks "$REDIS_PID")
	c0=$(cpu1_busy)
	t0=$(date +%s%N)
	if ! out=$(timeout $((DUR_S + 20)) "${PIN_CLIENT[@]}" wrk -t1 "-c$conns" "-d$DUR" -H "apikey: $BENCH_KEY" --latency "$url" 2>&1); then
		log "wrk against $name failed: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
		return 1
	fi
	t1=$(date +%s%N)
	c1=$(cpu1_busy)
	p1=$(proc_ticks "$pid")
	u1=$(proc_ticks "$UP_PID")
	r1=0
	if [[ -n "$M_RCALLS" ]]; then
		r1=$(proc_ticks "$REDIS_PID")
		M_RCALLS=$(($(redis_commands) - M_RCALLS))
	fi
	M_RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	M_P50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")
	M_REQS=$(awk '/requests in/ {print $1}' <<<"$out")
	M_ERRS=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {for (k = 4; k <= NF; k += 2) {gsub(",", "", $k); n += $k}} END {print n + 0}' <<<"$out")
	if [[ -z "$M_RPS" || -z "$M_REQS" || "$M_REQS" == 0 ]]; then
		log "could not parse wrk output for $name"
		return 1
	fi
	M_PCPU=$(awk -v a="$p0" -v b="$p1" -v t="$CLK_TCK" -v r="$M_REQS" 'BEGIN {printf "%.1f", (b - a) / t * 1e6 / r}')
	M_UCPU=$(awk -v a="$u0" -v b="$u1" -v t="$CLK_TCK" -v r="$M_REQS" 'BEGIN {printf "%.1f", (b - a) / t * 1e6 / r}')
	# CPU 1 time not spent by this proxy or the upstream: other programs
	# stealing the pinned core (only meaningful when pinned).
	# Redis serves the limit-redis target on the same core: its work is
	# part of that target's cost, not a disturbance.
	ours=$((p1 - p0 + r1 - r0))
	if [[ "$pid" != "$UP_PID" ]]; then
		ours=$((ours + u1 - u0))
	fi
	if [[ "$BENCH_PIN" == 1 ]]; then
		M_FOREIGN=$(awk -v b="$((c1 - c0))" -v o="$ours" -v ns="$((t1 - t0))" -v t="$CLK_TCK" \
			'BEGIN {f = (b - o) / (ns / 1e9 * t) * 100; if (f < 0) f = 0; printf "%.0f", f}')
	else
		M_FOREIGN=n/a
	fi
}

run_wrk() { # round index conns: one recorded run, retried while other work disturbs it
	local round=$1 i=$2 conns=$3 attempt
	local name=${T_NAME[$i]} pid=${T_PID[$i]}
	for ((attempt = 0; ; attempt++)); do
		if (($(budget_left) < DUR_S + 5)); then
			SKIPPED_RUNS=$((SKIPPED_RUNS + 1))
			return 0
		fi
		if ! is_alive "$pid"; then
			log "$name (pid $pid) is gone; skipping its run"
			SKIPPED_RUNS=$((SKIPPED_RUNS + 1))
			return 0
		fi
		measure_once "$i" "$conns" || return 0
		if [[ "$M_FOREIGN" != n/a ]] && ((M_FOREIGN > FOREIGN_LIMIT && attempt < RETRIES)) &&
			(($(budget_left) >= 2 * DUR_S + 20)); then
			log "round $round  c$conns  $name disturbed (other work took ${M_FOREIGN}% of CPU 1, $(printf '%.0f' "$M_RPS") req/s): retrying"
			RETRIED_RUNS=$((RETRIED_RUNS + 1))
			wait_quiet 15 || true
			continue
		fi
		break
	done
	if [[ -n "$M_RCALLS" ]]; then # only runs that are recorded count
		REDIS_CALLS=$((REDIS_CALLS + M_RCALLS))
		REDIS_REQS=$((REDIS_REQS + M_REQS))
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$conns" "$M_RPS" "$M_P50" "$M_REQS" "$M_PCPU" "$M_UCPU" "$M_ERRS" "$M_FOREIGN" >>"$RAW"
	if ((M_ERRS > 0)); then
		log "WARNING: $name had $M_ERRS errors / non-2xx responses in round $round (c$conns)"
	fi
	log "round $round  c$conns  $(printf '%-15s' "$name") $(printf '%9.0f' "$M_RPS") req/s  p50 ${M_P50}us  cpu ${M_PCPU}us/req  foreign cpu1 ${M_FOREIGN}%"
}

NT=${#T_NAME[@]}
EST=$((NT * (1 + 2 * ROUNDS * DUR_S) + NT * SSE_REPS * (SSE_N * 5 / 1000 + 1)))
log "targets: ${T_NAME[*]}"
log "pinning: $([[ "$BENCH_PIN" == 1 ]] && echo 'wrk on CPU 0, proxies+upstream on CPU 1' || echo none); GOMAXPROCS=${BENCH_GOMAXPROCS:-default}; nginx workers=$BENCH_NGINX_WORKERS"
log "measuring: $ROUNDS round(s) x $NT targets x (c$CONNS + c1) x $DUR, then SSE; about ${EST}s"
# The machine may be shared (builds, tests): wait a bounded time for it to
# go quiet before measuring. Our own processes are idle at this point.
WAIT_IDLE=${BENCH_WAIT_IDLE:-30}
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
	WAIT_IDLE=${BENCH_WAIT_IDLE:-10}
fi
if ! wait_quiet "$WAIT_IDLE"; then
	log "WARNING: machine still busy with other work after ${WAIT_IDLE}s; measuring anyway (disturbed runs are retried up to $RETRIES times)"
fi
MEASURE_TS=$(date +%s)

# Warm-up (not recorded): fills connection pools, faults in memory.
for i in "${!T_NAME[@]}"; do
	if ! timeout 20 "${PIN_CLIENT[@]}" wrk -t1 "-c$CONNS" -d1s -H "apikey: $BENCH_KEY" "http://127.0.0.1:${T_PORT[$i]}/" >/dev/null 2>&1; then
		log "warm-up of ${T_NAME[$i]} failed"
	fi
done

for ((r = 1; r <= ROUNDS; r++)); do
	for i in "${!T_NAME[@]}"; do
		run_wrk "$r" "$i" "$CONNS"
	done
	for i in "${!T_NAME[@]}"; do
		run_wrk "$r" "$i" 1
	done
done
FOREIGN_MAX=$(awk -F'\t' 'NR > 1 && $10 != "n/a" && $10 + 0 > m {m = $10 + 0} END {print m + 0}' "$RAW")
if [[ "$BENCH_PIN" == 1 ]] && ((FOREIGN_MAX > 10)); then
	log "WARNING: other work took up to ${FOREIGN_MAX}% of CPU 1 during some runs (column foreign_cpu1_pct); rerun on a quiet machine"
fi
if ((RETRIED_RUNS > 0)); then
	log "$RETRIED_RUNS run(s) were disturbed by other work and measured again"
fi
if ((SKIPPED_RUNS > 0)); then
	log "WARNING: $SKIPPED_RUNS run(s) skipped (budget BENCH_MAX_SECONDS=$BENCH_MAX_SECONDS or a dead target)"
fi

# SSE: SSE_REPS streams per target, one at a time; median time to the first
# event and to the end of the stream.
SSE="$TMP/sse.tsv"
: >"$SSE"
SSE_MAX=$((SSE_N * 5 / 1000 + 10))
for i in "${!T_NAME[@]}"; do
	sse_out="$TMP/sse-${T_NAME[$i]}.out"
	for ((k = 1; k <= SSE_REPS; k++)); do
		if tm=$(timeout $((SSE_MAX + 5)) "${PIN_CLIENT[@]}" curl -sS -N --max-time "$SSE_MAX" -H "apikey: $BENCH_KEY" -o "$sse_out" -w '%{time_starttransfer}\t%{time_total}' \
			"http://127.0.0.1:${T_PORT[$i]}/sse?n=$SSE_N&gap=5ms"); then
			ev=$(grep -c "^data:" "$sse_out" || true)
			printf '%s\t%s\t%s\n' "${T_NAME[$i]}" "$ev" "$tm" >>"$SSE"
		else
			log "SSE check against ${T_NAME[$i]} failed"
		fi
	done
done

# ---------------------------------------------------------------- report
median() { # target conns column -> median over rounds (empty if none)
	awk -F'\t' -v t="$1" -v c="$2" -v col="$3" 'NR > 1 && $2 == t && $3 == c {print $col}' "$RAW" |
		sort -g | awk '{v[NR] = $1} END {
			if (NR == 0) exit
			if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { # a b -> a/b with 2 decimals, or n/a
	if [[ -n "$1" && -n "$2" ]]; then awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; else echo n/a; fi
}

TABLE="$TMP/table.md"
D_RPS=$(median direct "$CONNS" 4)
N_RPS=$(median nginx "$CONNS" 4)
D_P50=$(median direct 1 5)
{
	echo "| target | req/s (median, c$CONNS) | / nginx | / direct | p50 at c1 | added p50 over direct | CPU us/request |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for name in "${T_NAME[@]}"; do
		rps=$(median "$name" "$CONNS" 4)
		p50=$(median "$name" 1 5)
		cpu=$(median "$name" "$CONNS" 7)
		if [[ "$name" == direct ]]; then
			added="0"
			cpu_s="${cpu:-n/a} (upstream alone)"
		else
			added=$([[ -n "$p50" && -n "$D_P50" ]] && awk -v a="$p50" -v b="$D_P50" 'BEGIN {printf "%+.0f us", a - b}' || echo n/a)
			cpu_s=${cpu:-n/a}
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
			"$([[ -n "$rps" ]] && printf '%.0f' "$rps" || echo n/a)" \
			"$(ratio "$rps" "$N_RPS")" "$(ratio "$rps" "$D_RPS")" \
			"$([[ -n "$p50" ]] && printf '%.0f us' "$p50" || echo n/a)" "$added" "$cpu_s"
	done
	if [[ "$HAVE_SLUICE" != 1 ]] || [[ " ${T_NAME[*]} " != *" sluice "* ]]; then
		echo "| sluice | pending: not built/started in this run | | | | | |"
	fi
	S_RPS=$(median sluice "$CONNS" 4)
	for name in sluice+auth+limit sluice+limit-redis; do
		rps=$(median "$name" "$CONNS" 4)
		[[ -n "$rps" && -n "$S_RPS" ]] || continue
		echo
		echo "- $name / sluice (same route without the plugins): $(ratio "$rps" "$S_RPS")x req/s"
	done
} >"$TABLE"

SSE_TABLE="$TMP/sse.md"
sse_median() { # target column -> median over the streams
	awk -F'\t' -v t="$1" -v col="$2" '$1 == t {print $col}' "$SSE" | sort -g |
		awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'
}
D_TTFB=$(sse_median direct 3)
{
	echo "| target | events (min of $SSE_REPS) | first event | first event over direct | whole stream |"
	echo "|---|---:|---:|---:|---:|"
	for name in "${T_NAME[@]}"; do
		ttfb=$(sse_median "$name" 3)
		[[ -n "$ttfb" ]] || continue
		evmin=$(awk -F'\t' -v t="$name" '$1 == t {print $2}' "$SSE" | sort -n | head -n1)
		awk -v n="$name" -v evmin="$evmin" -v a="$ttfb" -v d="$D_TTFB" -v tot="$(sse_median "$name" 4)" 'BEGIN {
			over = (d == "") ? "n/a" : sprintf("%+.2f ms", (a - d) * 1000)
			printf "| %s | %s | %.2f ms | %s | %.0f ms |\n", n, evmin, a * 1000, over, tot * 1000 }'
	done
} >"$SSE_TABLE"

{
	echo
	echo "## Raw runs"
	column -t -s $'\t' "$RAW" 2>/dev/null || cat "$RAW"
	echo
	echo "## Environment"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- nproc: $(nproc); CPU: $(lscpu | awk -F: '/^Model name/ {gsub(/^[ \t]+/, "", $2); print $2; exit}')"
	echo "- kernel: $(uname -r); $(go version | awk '{print $3}'); nginx $("$NGINX" -v 2>&1 | awk -F/ '{print $2}'); $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
	if [[ "$HAVE_SLUICE" == 1 ]]; then
		echo "- sluice: built from $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$([[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -n1)" ]] && echo ' plus uncommitted changes')"
	else
		echo "- sluice: not built in this run (rows pending)"
	fi
	echo "- rounds: $ROUNDS x $DUR per run, interleaved; c$CONNS for req/s, c1 for p50"
	if [[ "$BENCH_PIN" == 1 ]]; then
		echo "- other work on CPU 1 during runs: max ${FOREIGN_MAX}% (foreign_cpu1_pct; above ~10% the run is disturbed)"
	fi
	echo "- pinning: $([[ "$BENCH_PIN" == 1 ]] && echo 'wrk taskset -c 0; upstream and proxies taskset -c 1' || echo none); GOMAXPROCS=${BENCH_GOMAXPROCS:-runtime default}; nginx worker_processes $BENCH_NGINX_WORKERS"
	echo
	echo "## Results (medians; compare ratios within this run only)"
	cat "$TABLE"
	echo
	echo "## SSE ($SSE_N events 5 ms apart; median of $SSE_REPS streams, one at a time)"
	cat "$SSE_TABLE"
	if ((REDIS_REQS > 0)); then
		echo
		echo "## Redis round trips (sluice+limit-redis)"
		echo "- script calls (EVALSHA + EVAL, from INFO commandstats) during the recorded runs: $REDIS_CALLS" \
			"for $REDIS_REQS completed requests: $(awk -v c="$REDIS_CALLS" -v n="$REDIS_REQS" 'BEGIN {printf "%.3f", c / n}')" \
			"round trips per request (requests still in flight when wrk stops add a few calls)"
	fi
}

if [[ -n "${BENCH_OUT:-}" ]]; then
	mkdir -p "$BENCH_OUT"
	cp "$RAW" "$TABLE" "$SSE_TABLE" "$BENCH_OUT/"
	log "results copied to $BENCH_OUT"
fi
log "done in $(($(date +%s) - START_TS))s"
