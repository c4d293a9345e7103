#!/usr/bin/env bash
# Throughput, latency and memory of FlexGate next to HAProxy and nginx, on one machine over
# loopback. Run from the repository root:
#
#   bash bench/run.sh
#
# Settings (environment variables):
#   FLEXGATE_BIN           FlexGate binary (default: target/release/flexgate, built with
#                          `cargo build --release -p flexgate` first; an explicit value is used
#                          as it is)
#   BENCH_DURATION         seconds of each measured wrk run (default 10)
#   BENCH_CONNECTIONS      wrk connections (default 64)
#   BENCH_WARMUP           seconds of wrk warm-up before each measurement (default 3)
#   BENCH_IDLE_CONNECTIONS idle keep-alive connections for the memory check (default 1000)
#   BENCH_MAX_OTHER_LOAD   a measured run during which other processes used more than this
#                          percentage of a CPU is repeated (default 10)
#   BENCH_ATTEMPTS         at most this many measured runs per target (default 3); the least
#                          disturbed one is reported
#   BENCH_SKIP_FLEXGATE=1  leave the FlexGate proxy out (the demo upstream still comes from
#                          the FlexGate binary)
#   BENCH_KEEP_TMP=1       keep the temporary directory (configs, logs) for inspection
#
# The report goes to stdout and to bench/results/latest.md; the raw wrk outputs are kept next
# to it. See bench/README.md for the method.

set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BENCH=bench
RESULTS_DIR=bench/results
REPORT="$RESULTS_DIR/latest.md"

DURATION="${BENCH_DURATION:-10}"
DURATION="${DURATION%s}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
WARMUP="${BENCH_WARMUP:-3}"
WARMUP="${WARMUP%s}"
IDLE_CONNECTIONS="${BENCH_IDLE_CONNECTIONS:-1000}"
SKIP_FLEXGATE="${BENCH_SKIP_FLEXGATE:-0}"
ATTEMPTS="${BENCH_ATTEMPTS:-3}"
MAX_OTHER_LOAD="${BENCH_MAX_OTHER_LOAD:-10}"

UPSTREAM_PORT=18000
FLEXGATE_PORT=18080
HAPROXY_PORT=18081
NGINX_PORT=18082
FLEXGATE_STATUS_PORT=18100

log() { printf '==> %s\n' "$*" >&2; }

# Report lines: stdout and the report file.
say() { printf '%s\n' "$*" | tee -a "$REPORT"; }

die() {
    printf 'error: %s\n' "$*" >&2
    if [[ -f "$REPORT" ]]; then
        printf '\n**Benchmark failed:** %s\n' "$*" >>"$REPORT"
    fi
    exit 1
}

for value in "$DURATION" "$CONNECTIONS" "$WARMUP" "$IDLE_CONNECTIONS" "$ATTEMPTS"; do
    [[ "$value" =~ ^[0-9]+$ && "$value" -gt 0 ]] ||
        die "BENCH_DURATION, BENCH_WARMUP (seconds), BENCH_CONNECTIONS, BENCH_IDLE_CONNECTIONS and BENCH_ATTEMPTS must be positive integers (got '$value')"
done
[[ "$MAX_OTHER_LOAD" =~ ^[0-9]+$ ]] || die "BENCH_MAX_OTHER_LOAD must be a whole percentage (got '$MAX_OTHER_LOAD')"

# ---- tools -------------------------------------------------------------------------------

need() {
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' not found: install the Debian package '$2' (apt-get install $2)"
}
need wrk wrk
need haproxy haproxy
need nginx nginx-light
need taskset util-linux
need python3 python3
need timeout coreutils

[[ "$(nproc)" -ge 2 ]] ||
    die "needs at least 2 CPUs (proxies are pinned to CPU 1, wrk and the upstream to CPU 0)"

if [[ -n "${FLEXGATE_BIN:-}" ]]; then
    [[ -x "$FLEXGATE_BIN" ]] || die "FLEXGATE_BIN=$FLEXGATE_BIN is not an executable file"
    BINARY_ORIGIN="FLEXGATE_BIN=$FLEXGATE_BIN (not rebuilt)"
else
    BINARY_ORIGIN="built from the work tree"
    need cargo "cargo (or set FLEXGATE_BIN)"
    FLEXGATE_BIN="${CARGO_TARGET_DIR:-target}/release/flexgate"
    log "building FlexGate (release)"
    cargo build --release -p flexgate >&2 || die "cargo build --release -p flexgate failed"
    [[ -x "$FLEXGATE_BIN" ]] || die "no binary at $FLEXGATE_BIN after the build"
fi

# Room for the idle connections (and the proxies' upstream connections) in every process we
# start. The hard limit may be lower than 65536 in containers; take what is allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((IDLE_CONNECTIONS + 500)) ]]; then
    die "open-file limit $(ulimit -n) is too low for $IDLE_CONNECTIONS idle connections"
fi

# HAProxy needs about two descriptors per connection and refuses to start if its maxconn
# does not fit in the limit.
if [[ "$(ulimit -n)" == unlimited ]]; then
    HAPROXY_MAXCONN=20000
else
    HAPROXY_MAXCONN=$(( ($(ulimit -n) - 200) / 2 ))
    ((HAPROXY_MAXCONN <= 20000)) || HAPROXY_MAXCONN=20000
fi

# ---- processes ---------------------------------------------------------------------------

TMP="$(mktemp -d -t flexgate-bench.XXXXXX)"
PIDS=()             # everything started, for the cleanup
declare -A PID_OF=() # name -> pid

# running PID : true while PID runs (an exited child not yet waited for is a zombie: false).
running() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z && "${stat:0:1}" != X ]]
}

cleanup() {
    local pid deadline
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + 10))
    for pid in "${PIDS[@]}"; do
        while running "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${BENCH_KEEP_TMP:-0}" == 1 ]]; then
        log "temporary files kept in $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME LOGFILE COMMAND... : runs COMMAND in the background; its pid goes in PID_OF[NAME].
start() {
    local name="$1" logfile="$2"
    shift 2
    "$@" >"$logfile" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    PID_OF[$name]="$pid"
}

# ready LABEL PID PORT LOGFILE : waits for a 200 on /bench, or fails with the log's tail.
ready() {
    local label="$1" pid="$2" port="$3" logfile="$4"
    if ! python3 "$BENCH/tools.py" wait "$port" /bench 15 "$pid" || ! running "$pid"; then
        printf -- '--- last lines of the %s log ---\n' "$label" >&2
        tail -n 30 "$logfile" >&2 || true
        running "$pid" || printf '%s (pid %s) has exited\n' "$label" "$pid" >&2
        die "$label did not start (no 200 on 127.0.0.1:$port/bench within 15 s)"
    fi
}

render() { # render TEMPLATE OUTPUT
    sed -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" \
        -e "s|@FLEXGATE_PORT@|$FLEXGATE_PORT|g" \
        -e "s|@FLEXGATE_STATUS_PORT@|$FLEXGATE_STATUS_PORT|g" \
        -e "s|@HAPROXY_PORT@|$HAPROXY_PORT|g" \
        -e "s|@NGINX_PORT@|$NGINX_PORT|g" \
        -e "s|@HAPROXY_MAXCONN@|$HAPROXY_MAXCONN|g" \
        -e "s|@ACCESS_LOG@|$TMP/flexgate/access.log|g" \
        "$1" >"$2"
}

PORTS=("$UPSTREAM_PORT" "$HAPROXY_PORT" "$NGINX_PORT")
[[ "$SKIP_FLEXGATE" == 1 ]] || PORTS+=("$FLEXGATE_PORT" "$FLEXGATE_STATUS_PORT")
for port in "${PORTS[@]}"; do
    python3 "$BENCH/tools.py" port-free "$port" ||
        die "port 127.0.0.1:$port is already in use (another benchmark still running?)"
done

mkdir -p "$RESULTS_DIR"
: >"$REPORT"

# Other work on the machine skews every number; measure it for a second and say so.
cpu_busy_pct() {
    local a b
    a="$(awk '/^cpu /{ print $2+$3+$4+$7+$8, $5+$6 }' /proc/stat)"
    sleep 1
    b="$(awk '/^cpu /{ print $2+$3+$4+$7+$8, $5+$6 }' /proc/stat)"
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x); split(b, y); busy = y[1] - x[1]; idle = y[2] - x[2]
        printf "%.0f", (busy + idle > 0) ? 100 * busy / (busy + idle) : 0 }'
}
BACKGROUND_BUSY="$(cpu_busy_pct)"

log "starting the demo upstream on CPU 0 (127.0.0.1:$UPSTREAM_PORT)"
start upstream "$TMP/upstream.log" \
    taskset -c 0 "$FLEXGATE_BIN" demo-upstream --bind "127.0.0.1:$UPSTREAM_PORT" --workers 1
ready "demo upstream" "${PID_OF[upstream]}" "$UPSTREAM_PORT" "$TMP/upstream.log"

TARGETS=(upstream)

if [[ "$SKIP_FLEXGATE" != 1 ]]; then
    log "starting FlexGate on CPU 1 (127.0.0.1:$FLEXGATE_PORT)"
    mkdir -p "$TMP/flexgate"
    render "$BENCH/flexgate.yaml.in" "$TMP/flexgate/flexgate.yaml"
    start flexgate "$TMP/flexgate/stderr.log" \
        taskset -c 1 "$FLEXGATE_BIN" proxy -c "$TMP/flexgate/flexgate.yaml" --workers 1
    ready FlexGate "${PID_OF[flexgate]}" "$FLEXGATE_PORT" "$TMP/flexgate/stderr.log"
    TARGETS+=(flexgate)
fi

log "starting HAProxy on CPU 1 (127.0.0.1:$HAPROXY_PORT)"
mkdir -p "$TMP/haproxy"
render "$BENCH/haproxy.cfg.in" "$TMP/haproxy/haproxy.cfg"
haproxy -c -q -f "$TMP/haproxy/haproxy.cfg" >"$TMP/haproxy/check.log" 2>&1 ||
    { cat "$TMP/haproxy/check.log" >&2; die "HAProxy rejected its config"; }
start haproxy "$TMP/haproxy/haproxy.log" taskset -c 1 haproxy -db -f "$TMP/haproxy/haproxy.cfg"
ready HAProxy "${PID_OF[haproxy]}" "$HAPROXY_PORT" "$TMP/haproxy/haproxy.log"
TARGETS+=(haproxy)

log "starting nginx on CPU 1 (127.0.0.1:$NGINX_PORT)"
mkdir -p "$TMP/nginx/tmp"
render "$BENCH/nginx.conf.in" "$TMP/nginx/nginx.conf"
# -e: nginx opens its compiled-in error log before reading the config; keep it in the prefix.
start nginx "$TMP/nginx/stderr.log" \
    taskset -c 1 nginx -p "$TMP/nginx/" -c nginx.conf -e error.log
ready nginx "${PID_OF[nginx]}" "$NGINX_PORT" "$TMP/nginx/error.log"
TARGETS+=(nginx)

declare -A LABEL=([upstream]="upstream (direct)" [flexgate]=FlexGate [haproxy]=HAProxy [nginx]=nginx)
declare -A PORT=([upstream]=$UPSTREAM_PORT [flexgate]=$FLEXGATE_PORT [haproxy]=$HAPROXY_PORT [nginx]=$NGINX_PORT)
declare -A LOGFILE=([upstream]="$TMP/upstream.log" [flexgate]="$TMP/flexgate/stderr.log"
    [haproxy]="$TMP/haproxy/haproxy.log" [nginx]="$TMP/nginx/error.log")
declare -A RPS P50 P99 CPU_PCT CPU_US OTHER_PCT RSS_IDLE RSS_HELD HELD_CLOSED
FAILURES=()

# ---- measurements ------------------------------------------------------------------------

# CPU seconds (user + system) of the shell's reaped children, from a saved `times` output.
children_cpu() {
    awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] } printf "%.2f", t }' "$1"
}

# wrk_run NAME SECONDS OUTFILE PHASE : one wrk run on CPU 0 against NAME. Sets WRK_STATS to
# "req/s p50 p99 requests"; returns 1 (and records a failure) on non-2xx responses or errors.
WRK_STATS=""
wrk_run() {
    local name="$1" secs="$2" out="$3" phase="$4" stats rps p50 p99 total non2xx sockerr
    local url="http://127.0.0.1:${PORT[$name]}/bench"
    if ! timeout $((secs + 30)) taskset -c 0 \
        wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency "$url" >"$out" 2>&1; then
        cat "$out" >&2
        die "wrk against ${LABEL[$name]} failed"
    fi
    stats="$(python3 "$BENCH/tools.py" parse-wrk "$out")" || die "cannot read $out"
    read -r rps p50 p99 total non2xx sockerr <<<"$stats"
    if ((total == 0 || non2xx > 0 || sockerr > 0)); then
        FAILURES+=("${LABEL[$name]}, ${secs}s $phase: $total requests, $non2xx non-2xx/3xx responses, $sockerr socket errors ($(grep -E 'Socket errors|Non-2xx' "$out" | sed 's/^ *//' | paste -sd ';' -))")
        printf -- '--- wrk output against %s ---\n' "${LABEL[$name]}" >&2
        cat "$out" >&2
        printf -- '--- last lines of the %s log ---\n' "${LABEL[$name]}" >&2
        tail -n 30 "${LOGFILE[$name]}" >&2 || true
        return 1
    fi
    WRK_STATS="$rps $p50 $p99 $total"
}

# measure NAME ATTEMPT : one measured run; sets M_RPS M_P50 M_P99 M_CPU_PCT M_CPU_US M_OTHER.
measure() {
    local name="$1" attempt="$2" pid="${PID_OF[$1]}" out="$TMP/wrk-$1-$2.txt"
    local start_time end_time cpu0_before cpu1_before target_before upstream_before
    local cpu0_after cpu1_after target_after upstream_after total
    start_time="$EPOCHREALTIME"
    read -r cpu0_before cpu1_before target_before upstream_before \
        < <(python3 "$BENCH/tools.py" snapshot 0,1 "$pid" "${PID_OF[upstream]}")
    times >"$TMP/times.before"
    wrk_run "$name" "$DURATION" "$out" measurement || return 1
    times >"$TMP/times.after"
    end_time="$EPOCHREALTIME"
    read -r cpu0_after cpu1_after target_after upstream_after \
        < <(python3 "$BENCH/tools.py" snapshot 0,1 "$pid" "${PID_OF[upstream]}")
    read -r M_RPS M_P50 M_P99 total <<<"$WRK_STATS"
    read -r M_CPU_PCT M_CPU_US < <(awk -v b="$target_before" -v a="$target_after" -v d="$DURATION" \
        -v n="$total" 'BEGIN { printf "%.0f %.1f\n", 100 * (a - b) / d, 1e6 * (a - b) / n }')
    # CPU time that other processes took on the CPUs the run depends on, over its wall time:
    # on CPU 0 all busy time but the upstream's and wrk's (the shell's reaped children); on
    # CPU 1, when a proxy is measured, all busy time but the proxy's. (With the upstream
    # measured directly, CPU 1 is not used, and work there does not disturb the run.)
    M_OTHER="$(awk -v c0b="$cpu0_before" -v c0a="$cpu0_after" -v c1b="$cpu1_before" -v c1a="$cpu1_after" \
        -v pb="$target_before" -v pa="$target_after" -v ub="$upstream_before" -v ua="$upstream_after" \
        -v direct="$([[ "$name" == upstream ]] && echo 1 || echo 0)" \
        -v wb="$(children_cpu "$TMP/times.before")" -v wa="$(children_cpu "$TMP/times.after")" \
        -v t0="$start_time" -v t1="$end_time" \
        'BEGIN { o0 = (c0a - c0b) - (ua - ub) - (wa - wb); if (o0 < 0) o0 = 0
                 o1 = (c1a - c1b) - (pa - pb); if (o1 < 0 || direct) o1 = 0
                 printf "%.0f", 100 * (o0 + o1) / (t1 - t0) }')"
    M_OUT="$out"
}

for name in "${TARGETS[@]}"; do
    pid="${PID_OF[$name]}"
    log "${LABEL[$name]}: ${WARMUP}s warm-up"
    if ! wrk_run "$name" "$WARMUP" "$TMP/warmup-$name.txt" warm-up; then
        RPS[$name]=FAILED
        continue
    fi
    sleep 1
    RSS_IDLE[$name]="$(python3 "$BENCH/tools.py" rss "$pid")"
    # A run disturbed by other work on the machine is repeated; the least disturbed one counts.
    for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
        log "${LABEL[$name]}: ${DURATION}s measurement, $CONNECTIONS connections (attempt $attempt of at most $ATTEMPTS)"
        if ! measure "$name" "$attempt"; then
            RPS[$name]=FAILED
            break
        fi
        if [[ -z "${OTHER_PCT[$name]:-}" ]] || ((M_OTHER < OTHER_PCT[$name])); then
            RPS[$name]="$M_RPS" P50[$name]="$M_P50" P99[$name]="$M_P99"
            CPU_PCT[$name]="$M_CPU_PCT" CPU_US[$name]="$M_CPU_US" OTHER_PCT[$name]="$M_OTHER"
            cp "$M_OUT" "$RESULTS_DIR/wrk-$name.txt"
        fi
        ((M_OTHER > MAX_OTHER_LOAD)) || break
        log "${LABEL[$name]}: other processes used ${M_OTHER}% of a CPU during the run"
    done
done

for name in "${TARGETS[@]}"; do
    [[ "$name" == upstream || "${RPS[$name]:-FAILED}" == FAILED ]] && continue
    pid="${PID_OF[$name]}"
    running "$pid" || die "${LABEL[$name]} (pid $pid) is no longer running"
    log "${LABEL[$name]}: memory with $IDLE_CONNECTIONS idle keep-alive connections"
    if held="$(python3 "$BENCH/tools.py" hold "${PORT[$name]}" "$IDLE_CONNECTIONS" "$pid" 120)"; then
        read -r "RSS_HELD[$name]" "HELD_CLOSED[$name]" <<<"$held"
    else
        FAILURES+=("${LABEL[$name]}: could not hold $IDLE_CONNECTIONS idle connections")
        tail -n 30 "${LOGFILE[$name]}" >&2 || true
    fi
done

# ---- report ------------------------------------------------------------------------------

mib() { [[ -n "${1:-}" ]] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || printf 'n/a'; }
ratio() { # ratio A B -> A/B with two decimals, or n/a
    if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        printf 'n/a'
    fi
}

command_line="bash bench/run.sh"
for var in BENCH_DURATION BENCH_CONNECTIONS BENCH_WARMUP BENCH_IDLE_CONNECTIONS BENCH_SKIP_FLEXGATE \
    BENCH_MAX_OTHER_LOAD BENCH_ATTEMPTS; do
    [[ -n "${!var:-}" ]] && command_line="$var=${!var} $command_line"
done

say "# FlexGate benchmark"
say ""
say "- command: \`$command_line\`"
say "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
say "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ has uncommitted changes)')"
say "- FlexGate: $("$FLEXGATE_BIN" --version 2>/dev/null || echo unknown version), $BINARY_ORIGIN"
say "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown CPU), $(uname -sr)"
say "- versions: $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }'); $(haproxy -v | head -n1 | awk '{ print $1, $3 }'); $(nginx -v 2>&1 | sed 's/^nginx version: //')"
say "- load: \`taskset -c 0 wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency http://127.0.0.1:PORT/bench\` after a ${WARMUP}s warm-up"
say "- placement: wrk and the demo upstream on CPU 0; each proxy on CPU 1 with one worker"
say "- background load before the start: ${BACKGROUND_BUSY}% of all CPUs busy"
if ((BACKGROUND_BUSY > 10)); then
    say ""
    say "**Warning:** other processes kept the CPUs ${BACKGROUND_BUSY}% busy before the start; the numbers below are skewed by them. Rerun on an idle machine."
fi
say ""
say "| target | req/s | p50 ms | p99 ms | target CPU % | CPU µs/req | other load % |"
say "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in "${TARGETS[@]}"; do
    if [[ "${RPS[$name]:-FAILED}" == FAILED ]]; then
        say "| ${LABEL[$name]} | FAILED | | | | | |"
    else
        say "| ${LABEL[$name]} | ${RPS[$name]} | ${P50[$name]} | ${P99[$name]} | ${CPU_PCT[$name]} | ${CPU_US[$name]} | ${OTHER_PCT[$name]} |"
    fi
done
say ""
for name in "${TARGETS[@]}"; do
    if [[ -n "${OTHER_PCT[$name]:-}" ]] && ((OTHER_PCT[$name] > MAX_OTHER_LOAD)); then
        say "**Warning:** every measured run of ${LABEL[$name]} ($ATTEMPTS) was disturbed; in the one reported, other processes took ${OTHER_PCT[$name]}% of a CPU. Compare it with care."
        say ""
    fi
done
say "target CPU %: CPU time of the measured process (the proxy, or the upstream when direct) over the run, 100 = one full CPU. CPU µs/req: that time per request. other load %: CPU time other processes took over the run on the CPUs it uses (CPU 0 with wrk and the upstream; CPU 1 with the proxy), interrupt time left out, 100 = one full CPU; above a few percent the run was disturbed."
say ""
if [[ "$SKIP_FLEXGATE" != 1 ]]; then
    say "Ratios (req/s: above 1 means FlexGate serves more; p99: below 1 means FlexGate's tail is shorter):"
    say ""
    say "| | req/s | p99 |"
    say "| --- | ---: | ---: |"
    for other in haproxy nginx; do
        say "| FlexGate / ${LABEL[$other]} | $(ratio "${RPS[flexgate]:-}" "${RPS[$other]:-}") | $(ratio "${P99[flexgate]:-}" "${P99[$other]:-}") |"
    done
    say ""
fi
say "Memory (RSS of the proxy process and its children):"
say ""
say "| proxy | idle MiB | with $IDLE_CONNECTIONS idle connections MiB | KiB per connection |"
say "| --- | ---: | ---: | ---: |"
for name in "${TARGETS[@]}"; do
    [[ "$name" == upstream ]] && continue
    per_conn=n/a
    if [[ -n "${RSS_IDLE[$name]:-}" && -n "${RSS_HELD[$name]:-}" ]]; then
        per_conn="$(awk -v a="${RSS_HELD[$name]}" -v b="${RSS_IDLE[$name]}" -v n="$IDLE_CONNECTIONS" 'BEGIN { x = (a - b) / n; printf "%.1f", (x > -0.05 && x < 0.05) ? 0 : x }')"
    fi
    say "| ${LABEL[$name]} | $(mib "${RSS_IDLE[$name]:-}") | $(mib "${RSS_HELD[$name]:-}") | $per_conn |"
done
for name in "${TARGETS[@]}"; do
    if [[ "${HELD_CLOSED[$name]:-0}" != 0 ]]; then
        say ""
        say "Note: ${LABEL[$name]} closed ${HELD_CLOSED[$name]} of the $IDLE_CONNECTIONS idle connections within a second."
    fi
done

if ((${#FAILURES[@]} > 0)); then
    say ""
    say "Failures:"
    for failure in "${FAILURES[@]}"; do
        say "- $failure"
    done
    die "${#FAILURES[@]} target(s) failed; see above"
fi
log "report written to $REPORT"
