#!/usr/bin/env bash
# The benchmark in one command: installs missing packages, builds (build/, RelWithDebInfo)
# and runs llm-mqtt-bench with the given options (--help lists them). About 8 minutes on 2
# cores; --smoke takes about 40 s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

scripts/install-deps.sh

launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build build -j"$(nproc)" --target llm-mqtt-bench

exec build/bin/llm-mqtt-bench "$@"
