#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR and checks that every file lands where the unit and
# the documentation say, that the installed program accepts the installed configuration, and
# that a second install keeps a configuration that was changed.
# Usage: check_install.sh CMAKE BUILD_DIR SCRATCH_DIR BINDIR UNIT_DIR CONFIG DOCDIR
set -euo pipefail

cmake=$1
build=$2
scratch=$3
bindir=$4
unitdir=$5
config=$6
docdir=$7

fail() {
    echo "check_install: $*" >&2
    exit 1
}

rm -rf "$scratch"
mkdir -p "$scratch"
root="$scratch/root"

DESTDIR="$root" "$cmake" --install "$build" >"$scratch/install.log" 2>&1 ||
    { cat "$scratch/install.log" >&2; fail "cmake --install failed"; }

for f in "$bindir/llm-mqtt-bridge" "$bindir/llm-mqtt"; do
    [[ -x $root$f ]] || fail "missing executable $f"
done
for f in "$unitdir/llm-mqtt-bridge.service" "$config" "$docdir/README.md" "$docdir/LICENSE" \
    "$docdir/PROTOCOL.md" "$docdir/configuration.md" "$docdir/examples/llm-mqtt-bridge.yaml"; do
    [[ -f $root$f ]] || fail "missing file $f"
done

unit="$root$unitdir/llm-mqtt-bridge.service"
if grep -n '@[A-Z_]*@' "$unit"; then
    fail "the unit has placeholders left"
fi
expect_line() {
    grep -qxF -- "$1" "$unit" || fail "the unit has no line '$1'"
}
expect_line "ExecStartPre=$bindir/llm-mqtt-bridge --check-config --config $config"
expect_line "ExecStart=$bindir/llm-mqtt-bridge --config $config"
expect_line "Type=notify"

# The installed program accepts the installed example configuration.
"$root$bindir/llm-mqtt-bridge" --check-config --config "$root$config" ||
    fail "the installed llm-mqtt-bridge rejects the installed configuration"

# An installed configuration that was changed survives the next install.
echo "# changed after install" >>"$root$config"
DESTDIR="$root" "$cmake" --install "$build" >"$scratch/install2.log" 2>&1 ||
    { cat "$scratch/install2.log" >&2; fail "the second cmake --install failed"; }
grep -qxF "# changed after install" "$root$config" ||
    fail "the second install overwrote the configuration"
example="$(dirname "$0")/../../config/llm-mqtt-bridge.yaml"
cmp -s "$root$docdir/examples/llm-mqtt-bridge.yaml" "$example" ||
    fail "the example in $docdir/examples differs from config/llm-mqtt-bridge.yaml"

rm -rf "$scratch"
echo "check_install: all files in place under DESTDIR"
