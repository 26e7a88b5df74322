#!/usr/bin/env bash
# Soak test: streams requests through the bridge without a break for a given time and checks
# that the bridge's memory and open file descriptors stay flat and that every answer is exact.
#
#   tools/soak/soak.sh SECONDS [--out DIR] [--streams N] [--build DIR]
#
# Starts its own mosquitto (127.0.0.1, a free port), mock-llm-server and llm-mqtt-bridge from
# the build directory (default build/), then runs N (default 8) loops, each sending one request
# after another with `llm-mqtt ask` (streamed echo answers of varying length, some split into
# many chunks, some coalesced with flush_ms, some whole) and comparing the printed answer with
# the text sent. Every 10 s it writes the bridge's VmRSS and open descriptors to DIR/samples.csv:
#   time_s,rss_kb,fds,requests_done,requests_failed
# At the end it prints the first sample after the warm-up (a tenth of the time, at most 60 s),
# the last and the largest, and a verdict: flat when the end RSS is within max(10 %, 2 MiB) of
# the post-warm-up RSS and the descriptors do not grow (by more than 2). Exits 1 when not flat or when any
# request failed. Everything it started is stopped by PID when it exits.
set -euo pipefail

usage() {
    sed -n '4,6p' "$0" >&2
    exit 2
}

[[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
duration=$1
shift
out=""
streams=8
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$root/build
while [[ $# -gt 0 ]]; do
    case $1 in
    --out) out=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) usage ;;
    esac
done
[[ -n $out ]] || out=$(mktemp -d -t llmb-soak.XXXXXX)
mkdir -p "$out"
bin=$build/bin
for p in llm-mqtt-bridge mock-llm-server llm-mqtt; do
    [[ -x $bin/$p ]] || { echo "soak: $bin/$p is missing: build the project first" >&2; exit 2; }
done
command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]] ||
    { echo "soak: mosquitto is not installed (scripts/install-deps.sh)" >&2; exit 2; }
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
echo "soak: ${duration}s, $streams streams, output in $out"

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- the broker
mqtt_port=$(free_port)
{
    echo "listener $mqtt_port 127.0.0.1"
    echo "allow_anonymous true"
    echo "set_tcp_nodelay true"
    echo "persistence false"
    echo "max_queued_messages 100000"
    echo "log_dest file $out/mosquitto.log"
    [[ $EUID -eq 0 ]] && echo "user root"
} >"$out/mosquitto.conf"
"$mosquitto_bin" -c "$out/mosquitto.conf" >"$out/mosquitto.stdout.log" 2>&1 &
pids+=($!)
url=tcp://127.0.0.1:$mqtt_port

# --- the mock LLM server (a small pause between tokens, so that streams overlap)
"$bin/mock-llm-server" --host 127.0.0.1 --port 0 --delay-us 2000 >"$out/mock.stdout.log" \
    2>"$out/mock.stderr.log" &
pids+=($!)
llm_port=""
for _ in $(seq 100); do
    llm_port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/mock.stdout.log")
    [[ -n $llm_port ]] && break
    sleep 0.1 # polling the log for the port
done
[[ -n $llm_port ]] || { echo "soak: the mock server did not start" >&2; exit 1; }

# --- the bridge, ready when its retained online status is there
"$bin/llm-mqtt-bridge" --mqtt "$url" --llm "http://127.0.0.1:$llm_port" \
    >"$out/bridge.stdout.log" 2>"$out/bridge.stderr.log" &
bridge_pid=$!
pids+=("$bridge_pid")
online=""
for _ in $(seq 20); do
    online=$(mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -t llm/status -C 1 -W 1 2>/dev/null || true)
    [[ $online == *'"online"'* ]] && break
done
[[ $online == *'"online"'* ]] || { echo "soak: the bridge did not come online" >&2; exit 1; }
echo "soak: broker $url, mock server :$llm_port, bridge pid $bridge_pid"

# --- the load: each loop writes one line per request to its own result file
deadline=$((SECONDS + duration))
loop() {
    local n=$1 i=0 text got extra
    local results=$out/results.$n
    : >"$results"
    while ((SECONDS < deadline)); do
        i=$((i + 1))
        text="soak $n/$i: $(printf 'word%.0s ' $(seq $((i % 40 + 1)))) äöü 数 🙂 end"
        extra=()
        case $((i % 4)) in
        0) extra=(--flush-ms 20) ;;
        1) extra=(--no-stream) ;;
        esac
        if got=$("$bin/llm-mqtt" ask -q -b "$url" --client "soak$n" --timeout 60 "${extra[@]}" \
            "#mock echo piece=$((i % 7 + 1))
$text" 2>>"$out/client.$n.stderr.log") && [[ $got == "$text" ]]; then
            echo ok >>"$results"
        else
            echo "failed: request $i of loop $n (exit or text differs)" >>"$results"
        fi
    done
}
for n in $(seq "$streams"); do
    loop "$n" &
    pids+=($!)
done

count() { cat "$out"/results.* 2>/dev/null | grep -c "$1" || true; }
sample() {
    local rss fds
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$bridge_pid/status")
    fds=$(ls "/proc/$bridge_pid/fd" | wc -l)
    echo "$1,$rss,$fds,$(count '^ok'),$(count '^failed')" >>"$out/samples.csv"
}
echo "time_s,rss_kb,fds,requests_done,requests_failed" >"$out/samples.csv"
started=$SECONDS
sample 0
while ((SECONDS < deadline)); do
    sleep 10 # the sampling interval
    kill -0 "$bridge_pid" 2>/dev/null || { echo "soak: the bridge died" >&2; exit 1; }
    sample $((SECONDS - started))
done
wait "${pids[@]:3}" 2>/dev/null || true
sample $((SECONDS - started))

# --- the verdict
warm=$((duration / 10 < 60 ? duration / 10 : 60))
read -r w_t w_rss w_fds < <(awk -F, -v w="$warm" 'NR > 1 && $1 >= w {print $1, $2, $3; exit}' \
    "$out/samples.csv")
read -r e_t e_rss e_fds e_ok e_failed < <(tail -n 1 "$out/samples.csv" | tr , ' ')
max_rss=$(awk -F, 'NR > 1 && $2 > m {m = $2} END {print m}' "$out/samples.csv")
tol=$((w_rss / 10 > 2048 ? w_rss / 10 : 2048))
echo "soak: after warm-up (${w_t}s): RSS ${w_rss} kB, ${w_fds} fds"
echo "soak: at the end (${e_t}s):     RSS ${e_rss} kB, ${e_fds} fds; largest RSS ${max_rss} kB"
echo "soak: requests: ${e_ok} done exactly, ${e_failed} failed"
verdict=0
if ((e_rss > w_rss + tol)); then
    echo "soak: NOT FLAT: RSS grew by $((e_rss - w_rss)) kB (tolerance ${tol} kB)"
    verdict=1
fi
# Descriptors move with the transfers in flight: the last (idle) count may not exceed the
# post-warm-up one, nor the peak of the last quarter that of the first half, by more than 2.
read -r h1_fds q4_fds < <(awk -F, -v w="$warm" -v d="$duration" '
    NR > 1 && $1 >= w && $1 <= d / 2 && $3 > a {a = $3}
    NR > 1 && $1 >= d * 3 / 4 && $3 > b {b = $3}
    END {print a + 0, b + 0}' "$out/samples.csv")
if ((e_fds > w_fds + 2 || q4_fds > h1_fds + 2)); then
    echo "soak: NOT FLAT: descriptors: ${w_fds} after warm-up, ${e_fds} at the end," \
        "peak ${h1_fds} in the first half and ${q4_fds} in the last quarter"
    verdict=1
fi
if ((e_failed > 0 || e_ok == 0)); then
    grep -h '^failed' "$out"/results.* | head -n 5
    verdict=1
fi
((verdict == 0)) && echo "soak: flat, every answer exact"
exit "$verdict"
