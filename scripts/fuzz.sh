#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz: configures a clang build in build-fuzz with
# LLMB_FUZZ=ON (the libraries under test instrumented for coverage, everything under ASan and
# UBSan), builds the fuzz-<target> executables and runs each for SECONDS seconds. New inputs go
# to a scratch corpus under build-fuzz/fuzz-runs/<target>/ (the repository's seed corpus is only
# read); crashing inputs are written there too. Prints a summary and exits non-zero when any
# target crashed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 600 seconds, every target
#
# Environment: LLMB_FUZZ_BUILD_DIR (default build-fuzz), CC/CXX (default clang/clang++),
# LLMB_FUZZ_JOBS (build parallelism, default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

all_targets=(request sse_openai splitter config device)

seconds=600
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
    if [[ ! " ${all_targets[*]} " =~ " $t " ]]; then
        echo "fuzz.sh: unknown target '$t' (targets: ${all_targets[*]})" >&2
        exit 2
    fi
done

build_dir=${LLMB_FUZZ_BUILD_DIR:-$root/build-fuzz}
runs_dir=$build_dir/fuzz-runs

cmake -S "$root" -B "$build_dir" \
    -DCMAKE_C_COMPILER="${CC:-clang}" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLLMB_FUZZ=ON -DLLMB_BUILD_TOOLS=OFF \
    -DLLMB_SANITIZE="address;undefined" \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
build_targets=()
for t in "${targets[@]}"; do
    build_targets+=(--target "fuzz-$t")
done
cmake --build "$build_dir" -j"${LLMB_FUZZ_JOBS:-2}" "${build_targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

declare -A execs crashes news
failed=0
for t in "${targets[@]}"; do
    run=$runs_dir/$t
    mkdir -p "$run/corpus" "$run/artifacts"
    rm -f "$run"/fuzz-*.log
    before=$(find "$run/corpus" -type f | wc -l)
    touch "$run/started"
    echo "== fuzz-$t: ${seconds}s (log: $run/fuzz-0.log)"
    # -jobs=1: one worker whose output goes to fuzz-0.log in the working directory.
    (cd "$run" && "$build_dir/bin/fuzz-$t" -max_total_time="$seconds" -jobs=1 \
        -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
        -artifact_prefix="$run/artifacts/" \
        "$run/corpus" "$root/tests/fuzz/corpus/$t" >/dev/null 2>&1) || true
    log=$run/fuzz-0.log
    execs[$t]=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" 2>/dev/null |
        tail -n1 | grep -o '[0-9]*$' || true)
    news[$t]=$(($(find "$run/corpus" -type f | wc -l) - before))
    found=$(find "$run/artifacts" -type f -newer "$run/started" 2>/dev/null | sort || true)
    if grep -qE '^==[0-9]+==ERROR|deadly signal|fuzz invariant violated|runtime error:' \
        "$log" 2>/dev/null || [[ -n $found ]]; then
        crashes[$t]=${found:-"(see $log)"}
        failed=1
        grep -E 'fuzz invariant violated|runtime error:|^==[0-9]+==ERROR|^SUMMARY' "$log" |
            head -n5 | sed 's/^/   /' || true
    else
        crashes[$t]=""
    fi
done

echo
echo "Fuzzing summary (${seconds}s per target)"
printf '%-12s %14s %12s  %s\n' target executions new-inputs crashes
for t in "${targets[@]}"; do
    c=${crashes[$t]}
    printf '%-12s %14s %12s  %s\n' "$t" "${execs[$t]:-?}" "${news[$t]}" \
        "$(if [[ -n $c ]]; then echo "$c" | tr '\n' ' '; else echo none; fi)"
done
if [[ $failed -ne 0 ]]; then
    echo "Crashes found: reproduce with build-fuzz/bin/fuzz-<target> <file>; see tests/fuzz/README.md"
    exit 1
fi
echo "No crashes."
