#!/usr/bin/env bash
# Flash and RAM the device library (protocol/device) takes on two microcontrollers: a Cortex-M0+
# (arm-none-eabi-gcc, Debian's gcc-arm-none-eabi) and the ESP8266's Xtensa lx106
# (xtensa-lx106-elf-gcc with picolibc, Debian's gcc-xtensa-lx106 and picolibc-xtensa-lx106-elf),
# both at -Os. Flash is .text, .literal and .rodata; RAM is .data and .bss (the library itself
# has none: its state and buffers belong to the caller). libc's string functions are not counted.
#
#   scripts/device-size.sh           print the sizes
#   scripts/device-size.sh --check   also fail when the Cortex-M0+ flash is over 4096 bytes
#
# A missing compiler fails the run when CI is set (CI installs them); otherwise the script
# exits 77, which ctest (device.size) reports as skipped. ARM_CC and XTENSA_CC name other
# compilers of the same targets.
set -euo pipefail

max_m0_flash=4096
check=0
if [[ ${1:-} == --check ]]; then
    check=1
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--check]" >&2
    exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/protocol/device
sources=("$src/llmb_device.c" "$src/llmb_request.c")
warnings=(-std=c99 -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror)
picolibc_specs=/usr/lib/xtensa-lx106-elf/picolibc.specs

arm_cc=${ARM_CC:-arm-none-eabi-gcc}
xtensa_cc=${XTENSA_CC:-xtensa-lx106-elf-gcc}

missing=()
command -v "$arm_cc" >/dev/null || missing+=(gcc-arm-none-eabi)
if ! command -v "$xtensa_cc" >/dev/null; then
    missing+=(gcc-xtensa-lx106)
elif [[ ! -f $picolibc_specs ]]; then
    missing+=(picolibc-xtensa-lx106-elf)
fi
if ((${#missing[@]} > 0)); then
    echo "device-size: missing ${missing[*]} (scripts/install-deps.sh installs them)" >&2
    if [[ -n ${CI:-} ]]; then
        exit 1
    fi
    echo "device-size: skipped" >&2
    exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# sizes NAME SIZE-TOOL COMPILER FLAGS...: compiles every source, prints one line and sets
# $flash to the flash bytes.
sizes() {
    local name=$1 size_tool=$2 cc=$3
    shift 3
    local objects=()
    for s in "${sources[@]}"; do
        local o
        o=$work/$name-$(basename "$s" .c).o
        "$cc" "$@" "${warnings[@]}" -I"$src" -c "$s" -o "$o"
        objects+=("$o")
    done
    read -r flash ram < <("$size_tool" -A "${objects[@]}" | awk '
        $1 ~ /^\.(text|literal|rodata)/ { flash += $2 }
        $1 ~ /^\.(data|bss)/ { ram += $2 }
        END { print flash + 0, ram + 0 }')
    printf '%-32s flash %5d bytes   RAM %4d bytes\n' "$name" "$flash" "$ram"
}

sizes "Cortex-M0+ (-Os -mthumb)" arm-none-eabi-size "$arm_cc" \
    -Os -mcpu=cortex-m0plus -mthumb
m0_flash=$flash
sizes "ESP8266 lx106 (-Os)" xtensa-lx106-elf-size "$xtensa_cc" \
    -Os --specs="$picolibc_specs"

if ((check)) && ((m0_flash > max_m0_flash)); then
    echo "device-size: Cortex-M0+ flash $m0_flash bytes is over the $max_m0_flash-byte budget" >&2
    exit 1
fi
