#!/usr/bin/env bash
# Runs every test of the project: installs missing packages, then for each build kind configures
# and builds a build directory and runs its tests with ctest. Exits non-zero when anything fails.
#
#   scripts/test.sh                 every kind: plain, asan, tsan (what CI runs)
#   scripts/test.sh plain           one or more kinds only
#
# Kinds:
#   plain  build/       RelWithDebInfo; every test (unit, fuzz corpus replay, integration,
#                       the benchmark's smoke run)
#   asan   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer; every test but the
#                       benchmark's smoke run (it is not built there)
#   tsan   build-tsan/  ThreadSanitizer; the integration suites where threads meet (Paho's
#                       callbacks, the session writer thread, signals; listed below); only the
#                       programs they run are built
#
# Under a sanitizer every program the tests start (the bridge, the mock server, the client)
# writes its reports to files under <build>/sanitizer-reports/ instead of stderr, so that a
# report from a child process fails the run even when the test that started it passed. A run
# with any report fails and prints them. The only suppressions are ThreadSanitizer's in
# tests/tsan.supp, each with its reason.
#
# Time. CI (2 cores, a clean clone, an empty ccache) took 40-46 min: builds plain 370 s, asan
# 920 s, tsan 370 s (wall); tests 250, 240 and 270 s. Measured since (compiler CPU seconds,
# which a shared machine does not distort the way it does wall time):
#   - the plain build's CPU: 730 s, of which the unit tests 177, the integration tests 270
#   - -g1 instead of -g: 21% less (protocol library + mock server: 71 -> 56 s)
#   - asan at -O1 -g1 instead of -O2 -g: half (protocol library + mock server: 197 -> 100 s)
#   - tsan builds neither unit tests nor fuzz replays nor the benchmark (about 30% of the CPU)
#   - the test kit's spare clients: the integration suites took 220 s together instead of 423
#     (each test's own client no longer waits 1-2 s for Paho); tsan runs 14 of the 28 suites
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

kinds=("$@")
if [[ ${#kinds[@]} -eq 0 ]]; then
    kinds=(plain asan tsan)
fi
for k in "${kinds[@]}"; do
    case $k in
    plain | asan | tsan) ;;
    *)
        echo "test.sh: unknown kind '$k' (kinds: plain asan tsan)" >&2
        exit 2
        ;;
    esac
done

scripts/install-deps.sh

jobs=$(nproc)

# cpu_seconds COMMAND...: runs COMMAND with its output on stderr and prints the CPU seconds (user
# and system) it and its children used; fails when COMMAND fails. Wall time says little on a
# shared machine.
cpu_seconds() {
    "$@" >&2 || return
    # The second line of `times` counts the waited-for children of this (sub)shell, as in
    # "1m2.5s 0m3.1s"; into a file, since a pipe would run `times` in a fresh subshell.
    local t
    t=$(mktemp)
    times >"$t"
    awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
                   printf "%d\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$t"
    rm -f "$t"
}

# ccache, when installed, makes rebuilds (and builds of other checkouts) quick; paths are taken
# relative to the checkout so that clones in other directories share the cache.
launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
fi

# Debug information: line tables only (-g1). Sanitizer reports and backtraces keep every frame,
# inlined ones included, with file and line; what is left out (types, local variables) is what a
# debugger needs, and it cost a quarter of the compile time. The ASan+UBSan build is optimised
# with -O1, as the sanitizers' documentation suggests: the same checks, at half the compile time
# of -O2 with these instrumentations (see the times at the top).
cxx_flags() {
    local opt=-O2
    [[ $1 == asan ]] && opt=-O1
    echo "$opt -g1 -DNDEBUG"
}

# run_kind KIND BUILD_DIR SANITIZE TEST_PARTS [ctest arguments...]
# TEST_PARTS: the tests the tree builds (LLMB_TEST_PARTS), no more than the ctest run needs.
run_kind() {
    local kind=$1 dir=$2 sanitize=$3 parts=$4
    shift 4
    local started=$SECONDS
    echo "test.sh: == $kind: configuring and building $dir"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(cxx_flags "$kind")" -DLLMB_SANITIZE="$sanitize" \
        -DLLMB_TEST_PARTS="$parts" "${launcher[@]}" >/dev/null
    local build_cpu
    build_cpu=$(cpu_seconds cmake --build "$dir" -j"$jobs")
    echo "test.sh: == $kind: built in $((SECONDS - started)) s ($build_cpu CPU s)"

    local reports=$PWD/$dir/sanitizer-reports
    rm -rf "$reports"
    mkdir -p "$reports"
    local rc=0
    (
        if [[ -n $sanitize ]]; then
            # log_path with log_exe_name: one file per process, <prefix>.<program>.<pid>;
            # exitcode: a report fails the process that made it as well; fast_unwind_on_fatal:
            # the stack of a crash is printed at once (the slow unwinder can outlast the grace
            # a test gives a process to stop, and the report would end without its stack).
            export ASAN_OPTIONS="log_path=$reports/asan:log_exe_name=1:fast_unwind_on_fatal=1:detect_leaks=1:abort_on_error=0:exitcode=23:strict_string_checks=1:detect_stack_use_after_return=1"
            export UBSAN_OPTIONS="log_path=$reports/ubsan:log_exe_name=1:print_stacktrace=1:halt_on_error=1"
            export TSAN_OPTIONS="log_path=$reports/tsan:log_exe_name=1:halt_on_error=0:exitcode=66:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
        fi
        ctest --test-dir "$dir" --output-on-failure -j2 --timeout 900 --no-tests=error "$@"
    ) || rc=$?
    local found
    found=$(find "$reports" -type f | sort)
    if [[ -n $found ]]; then
        echo "test.sh: $kind: sanitizer reports:" >&2
        for f in $found; do
            echo "---- $f" >&2
            head -n 60 "$f" >&2
        done
        return 1
    fi
    if ((rc != 0)); then
        echo "test.sh: $kind: tests failed" >&2
        return "$rc"
    fi
    echo "test.sh: == $kind: passed in $((SECONDS - started)) s"
}

# The suites where threads meet, which ThreadSanitizer runs (the daemon's own code is one event
# loop; these drive the hand-overs to and from it hardest):
#   streaming, cancel, concurrency, overload: Paho's receive and send threads hand messages and
#       delivery completions to the loop, many clients and streams at once, cancels mid-stream
#   mqtt311: the version fallback, decided in Paho's connect callbacks
#   sessions: the session writer thread against the loop (state_dir, history across restarts)
#   shutdown, config, systemd: signals through the signalfd (SIGTERM, SIGHUP reload with a
#       stream in flight) and the watchdog, while Paho's threads still deliver
#   cluster: three bridges, peers' status and takeovers arriving from Paho's thread
#   resilience, defaults.restarts, defaults.bridge_kill: broker and bridge restarts (reconnects,
#       republishing from the outbox, the journal read back)
#   cli: llm-mqtt's signal thread beside its Paho client
#   bounds: backpressure, where Paho's delivery completions release the outbox and the loop
#       pauses and resumes the upstream transfers
# The others check what a request's bytes become, single-threaded code that the plain and the
# ASan+UBSan runs cover; most of their time under TSan was the same work, only slower.
tsan_suites='streaming|cancel|concurrency|overload|mqtt311|sessions|shutdown|config|systemd'
tsan_suites+='|cluster|resilience|defaults\.restarts|defaults\.bridge_kill|cli|bounds'

for k in "${kinds[@]}"; do
    case $k in
    plain) run_kind plain build "" "unit;fuzz;integration;bench" ;;
    asan) run_kind asan build-asan "address;undefined" "unit;fuzz;integration" -LE bench ;;
    tsan) run_kind tsan build-tsan "thread" "integration" -R "^integration\.($tsan_suites)\$" ;;
    esac
done
echo "test.sh: all passed (${kinds[*]})"
