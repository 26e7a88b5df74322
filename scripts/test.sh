#!/usr/bin/env bash
# Runs every test of the project: installs missing packages, then for each build kind configures
# and builds a build directory and runs its tests with ctest. Exits non-zero when anything fails.
#
#   scripts/test.sh                 every kind: plain, asan, tsan (what CI runs)
#   scripts/test.sh plain           one or more kinds only
#
# Kinds:
#   plain  build/       RelWithDebInfo; every test (unit, fuzz corpus replay, integration)
#   asan   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer; every test
#   tsan   build-tsan/  ThreadSanitizer; the integration tests (the threaded parts: Paho's and
#                       libcurl's callbacks handing work to the event loop)
#
# Under a sanitizer every program the tests start (the bridge, the mock server, the client)
# writes its reports to files under <build>/sanitizer-reports/ instead of stderr, so that a
# report from a child process fails the run even when the test that started it passed. A run
# with any report fails and prints them. The only suppressions are ThreadSanitizer's in
# tests/tsan.supp, each with its reason.
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

# ccache, when installed, makes rebuilds (and builds of other checkouts) quick; paths are taken
# relative to the checkout so that clones in other directories share the cache.
launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
fi

# run_kind KIND BUILD_DIR SANITIZE [ctest arguments...]
run_kind() {
    local kind=$1 dir=$2 sanitize=$3
    shift 3
    local started=$SECONDS
    echo "test.sh: == $kind: configuring and building $dir"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLMB_SANITIZE="$sanitize" \
        "${launcher[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs"

    local reports=$PWD/$dir/sanitizer-reports
    rm -rf "$reports"
    mkdir -p "$reports"
    local rc=0
    (
        if [[ -n $sanitize ]]; then
            # log_path: one file per process, <prefix>.<pid>; exitcode: a report fails the
            # process that made it as well.
            export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0:exitcode=23:strict_string_checks=1:detect_stack_use_after_return=1"
            export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
            export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=0:exitcode=66:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
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

for k in "${kinds[@]}"; do
    case $k in
    plain) run_kind plain build "" ;;
    asan) run_kind asan build-asan "address;undefined" -LE bench ;;
    tsan) run_kind tsan build-tsan "thread" -L integration ;;
    esac
done
echo "test.sh: all passed (${kinds[*]})"
