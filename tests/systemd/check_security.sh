#!/usr/bin/env bash
# Fails when systemd-analyze scores the unit's exposure above the limit, or cannot score it.
# Usage: check_security.sh UNIT_FILE MAX_EXPOSURE
set -euo pipefail

unit=$1
limit=$2

analyze=$(PATH="$PATH:/usr/bin:/bin" command -v systemd-analyze || true)
if [[ -z $analyze ]]; then
    echo "check_security: systemd-analyze not found (install the systemd package)" >&2
    exit 1
fi
if [[ ! -f $unit ]]; then
    echo "check_security: no unit file at $unit" >&2
    exit 1
fi

# --offline=yes scores the file itself, without a running service manager.
if ! out=$(SYSTEMD_COLORS=0 "$analyze" security --offline=yes --no-pager "$unit" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "check_security: systemd-analyze failed on $unit" >&2
    exit 1
fi

pattern='s/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p'
score=$(printf '%s\n' "$out" | sed -n "$pattern")
if [[ -z $score ]]; then
    printf '%s\n' "$out" >&2
    echo "check_security: no 'Overall exposure level' line in the output" >&2
    exit 1
fi

# Findings that add to the exposure, for the log.
printf '%s\n' "$out" | grep '^✗' || true
if awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s > l) }'; then
    echo "check_security: exposure $score is above $limit" >&2
    exit 1
fi
echo "check_security: exposure $score (at most $limit)"
