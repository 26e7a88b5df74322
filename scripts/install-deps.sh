#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and running llm-mqtt-bridge need.
# Only packages that are missing are installed, so a second run is a quick no-op.
# Runs apt-get as root, or through sudo for other users.
#
# Installing the mosquitto package may start the system's mosquitto service on port 1883.
# Nothing in this repository uses or stops that service: tests and the demo start private
# brokers on their own ports.
set -euo pipefail

packages=(
    build-essential
    cmake
    ccache
    pkg-config
    libpaho-mqttpp-dev
    libpaho-mqtt-dev
    libcurl4-openssl-dev
    nlohmann-json3-dev
    libyaml-cpp-dev
    libspdlog-dev
    doctest-dev
    libsystemd-dev
    systemd
    mosquitto
    mosquitto-clients
    python3-paho-mqtt
    curl
    ca-certificates
    gnuplot-nox
    gcc-arm-none-eabi
    gcc-xtensa-lx106
    picolibc-xtensa-lx106-elf
)

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "install-deps: not a Debian-like system (no dpkg-query/apt-get)." >&2
    echo "install-deps: install the equivalents of: ${packages[*]}" >&2
    exit 0
fi

# One dpkg-query call for all packages; unknown packages print nothing and are then missing.
declare -A state=()
while read -r name status; do
    state["${name%%:*}"]=$status
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
    if [[ ${state[$p]:-} != installed ]]; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages are installed"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
as_root=()
if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
        echo "install-deps: not root and sudo is missing; as root run:" >&2
        echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    as_root=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
