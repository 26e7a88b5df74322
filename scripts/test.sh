#!/usr/bin/env bash
# Runs every test of the project: installs missing packages, configures and builds in build/,
# then runs all tests with ctest. Exits non-zero when anything fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2 --timeout 600 --no-tests=error
