#!/usr/bin/env bash
# demo.sh ["question"]: asks one question through MQTT, end to end.
#
# Installs missing packages, builds, starts a private mosquitto on 127.0.0.1, the mock LLM
# server and the bridge, waits until the bridge is online, then streams the answer with
# `llm-mqtt ask`. Everything it started is stopped again on exit; logs stay in a temp dir.
#
# Environment:
#   MQTT_PORT=N    port of the private broker (default 18830; the next free one if taken)
#   MQTT_URL=URL   use this broker instead of starting one (tcp://host:port or mqtt://host:port)
#   LLM_URL=URL    use this OpenAI-compatible server instead of the mock
#                  (e.g. LLM_URL=http://127.0.0.1:8080 for llama-server)
#   LLM_MODEL=NAME model to ask for (passed to the bridge as --model)
#   KEEP=1         after the answer, keep broker, mock and bridge running until Ctrl-C
#   BUILD_DIR=DIR  build directory (default build)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

question=${1:-Why is the sky blue?}
build_dir=${BUILD_DIR:-build}
bin=$(cd "$repo" && mkdir -p "$build_dir" && cd "$build_dir" && pwd)/bin
prefix=llm

say() { printf 'demo: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

pids=()   # started processes, in start order
names=()

# Stops what this script started, newest first: SIGTERM, then SIGKILL after 15 s.
stop_all() {
    local i pid
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 15))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "${names[i]} (pid $pid) did not stop on SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

logdir=""
# shellcheck disable=SC2317  # called by the EXIT trap
on_exit() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if ((${#pids[@]} > 0)); then
        say "stopping ${names[*]}"
        stop_all
    fi
    if [[ -n $logdir ]]; then
        say "logs: $logdir"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# start NAME LOGFILE COMMAND...: runs COMMAND in the background, output to LOGFILE. It gets a
# session of its own, so that Ctrl-C in the terminal reaches only this script and llm-mqtt
# (which then cancels its request); the trap stops the background processes in order.
start() {
    local name=$1 log=$2
    shift 2
    setsid "$@" >"$log" 2>&1 </dev/null &
    pids+=("$!")
    names+=("$name")
    say "started $name (pid $!): $*"
}

alive() { kill -0 "$1" 2>/dev/null; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# What the mock LLM server answers (the tests use its default answer instead: a word list full
# of escapes, emoji and other edge cases).
demo_answer="The sky looks blue because of Rayleigh scattering. Sunlight holds every colour, and \
on its way through the atmosphere it meets molecules of nitrogen and oxygen that are much smaller \
than its wavelength. Such small particles scatter short wavelengths far more strongly than long \
ones, roughly with the inverse fourth power of the wavelength, so blue light is scattered about \
five times as much as red and reaches your eyes from every part of the sky. Violet is scattered \
even more, but sunlight carries less of it and our eyes are less sensitive to it, so the sky \
looks blue rather than violet. At sunrise and sunset the light crosses much more air, most of \
the blue is scattered away before it reaches you, and the reds and oranges remain."

# --- dependencies and build ---------------------------------------------------------------
scripts/install-deps.sh
if [[ ! -f $build_dir/CMakeCache.txt ]]; then
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build_dir" -j"$(nproc)" --target llm-mqtt-bridge mock-llm-server llm-mqtt

logdir=$(mktemp -d "${TMPDIR:-/tmp}/llm-mqtt-demo.XXXXXX")
say "logs: $logdir"

# --- broker ---------------------------------------------------------------------------------
if [[ -n ${MQTT_URL:-} ]]; then
    if [[ ! $MQTT_URL =~ ^(tcp|mqtt)://([^:/]+):([0-9]+)/?$ ]]; then
        die "MQTT_URL must look like tcp://host:port (got '$MQTT_URL')"
    fi
    mqtt_host=${BASH_REMATCH[2]}
    mqtt_port=${BASH_REMATCH[3]}
    say "using the broker at $mqtt_host:$mqtt_port"
else
    mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
    [[ -x $mosquitto_bin ]] || die "mosquitto is not installed"
    mqtt_host=127.0.0.1
    mqtt_port=${MQTT_PORT:-18830}
    broker_pid=""
    for ((attempt = 0; attempt < 50; attempt++, mqtt_port++)); do
        port_open "$mqtt_port" && continue
        cat >"$logdir/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
log_dest stderr
CONF
        start mosquitto "$logdir/mosquitto.log" "$mosquitto_bin" -c "$logdir/mosquitto.conf"
        broker_pid=${pids[-1]}
        deadline=$((SECONDS + 10))
        while alive "$broker_pid" && ! port_open "$mqtt_port" && ((SECONDS < deadline)); do
            sleep 0.05
        done
        if alive "$broker_pid" && port_open "$mqtt_port"; then
            break
        fi
        # Lost a race for the port (or the broker failed): look at the next one.
        stop_all
        pids=()
        names=()
        broker_pid=""
    done
    [[ -n $broker_pid ]] || die "could not start mosquitto (see $logdir/mosquitto.log)"
    say "mosquitto listens on $mqtt_host:$mqtt_port"
fi
mqtt_url=tcp://$mqtt_host:$mqtt_port

# --- LLM server -----------------------------------------------------------------------------
if [[ -n ${LLM_URL:-} ]]; then
    llm_url=${LLM_URL%/}
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$llm_url/health" || true)
    if [[ $code != 200 ]]; then
        say "warning: $llm_url/health answered '${code:-nothing}' (still loading, or not running?)"
    fi
    say "using the LLM server at $llm_url"
else
    # The mock answers every question with this made-up text, a word every 40 ms (25 tokens/s,
    # about the pace of a local model) so that it can be read as it streams in.
    start mock-llm-server "$logdir/mock-llm-server.log" \
        "$bin/mock-llm-server" --host 127.0.0.1 --port 0 --delay-us 40000 --answer "$demo_answer"
    mock_pid=${pids[-1]}
    llm_url=""
    deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)) && alive "$mock_pid"; do
        line=$(grep -m 1 -o 'listening on 127\.0\.0\.1:[0-9]\+' "$logdir/mock-llm-server.log" || true)
        if [[ -n $line ]]; then
            llm_url=http://127.0.0.1:${line##*:}
            break
        fi
        sleep 0.05
    done
    [[ -n $llm_url ]] || die "mock-llm-server did not start (see $logdir/mock-llm-server.log)"
    say "mock-llm-server listens on ${llm_url#http://} (it answers every question with the same" \
        "made-up text; set LLM_URL to ask a real model)"
fi

# --- bridge ---------------------------------------------------------------------------------
bridge_args=(--mqtt "$mqtt_url" --llm "$llm_url" --prefix "$prefix")
if [[ -n ${LLM_MODEL:-} ]]; then
    bridge_args+=(--model "$LLM_MODEL")
fi
start llm-mqtt-bridge "$logdir/llm-mqtt-bridge.log" "$bin/llm-mqtt-bridge" "${bridge_args[@]}"
bridge_pid=${pids[-1]}

# The bridge publishes a retained {"state":"online",...} on llm/status once it is subscribed.
# A stale retained "offline" from an earlier run may come first on a shared broker: ask again.
online=false
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)) && alive "$bridge_pid"; do
    status=$(mosquitto_sub -h "$mqtt_host" -p "$mqtt_port" -C 1 -W 2 -t "$prefix/status" \
        2>/dev/null || true)
    if [[ $status == *'"online"'* ]]; then
        online=true
        break
    fi
done
$online || die "the bridge did not come online (see $logdir/llm-mqtt-bridge.log)"
say "bridge is online: $status"

cat >&2 <<MSG

Watch the tokens live in another terminal:
    mosquitto_sub -h $mqtt_host -p $mqtt_port -N -t '$prefix/text/#'
and the events with:
    mosquitto_sub -h $mqtt_host -p $mqtt_port -q 1 -v -t '$prefix/response/#'

MSG

# --- the question ---------------------------------------------------------------------------
say "asking: $question"
rc=0
"$bin/llm-mqtt" ask -b "$mqtt_url" --prefix "$prefix" "$question" || rc=$?
if ((rc != 0)); then
    say "llm-mqtt ask exited with status $rc"
fi

if [[ ${KEEP:-0} == 1 ]]; then
    cat >&2 <<MSG

Broker, LLM server and bridge keep running. Ask more questions with:
    $bin/llm-mqtt ask -b $mqtt_url "your question"
or publish a request yourself:
    mosquitto_pub -h $mqtt_host -p $mqtt_port -q 1 -t $prefix/request/dev1 \\
        -m '{"id":"r1","prompt":"Hello!"}'
Press Ctrl-C to stop.
MSG
    # Returns when one of them exits, or at once when Ctrl-C runs the INT trap.
    wait -n "${pids[@]}" || true
    say "a process exited on its own; stopping the rest"
    exit 1
fi

exit "$rc"
