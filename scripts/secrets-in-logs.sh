#!/usr/bin/env bash
# The captured-log check over the whole test suite: no secret that the simulated Authentik issued
# or received during the run — its API and admin tokens, OAuth2 client secrets, recovery links
# and their tokens, passwords set (temporary ones included) — appears in any test's captured
# output (nextest's JUnit report, which stores every test's stdout and stderr) or in the logs of
# the binaries the tests started (DEZKY_TEST_LOG_DIR, at debug level).
#
# Usage: scripts/secrets-in-logs.sh CANARY_LIST FILE_OR_DIR...
# The canary list is what the simulators appended to DEZKY_TEST_SECRETS_LOG, a secret a line.
# Exits 1 naming the file and a secret's first characters when one is found; 2 when there is
# nothing to look for (an empty list would prove nothing).
set -euo pipefail

list="$1"; shift
say() { printf '[secrets-in-logs] %s\n' "$*" >&2; }

[ -s "$list" ] || { say "no secret was recorded in $list: nothing to look for"; exit 2; }
canaries=$(mktemp); trap 'rm -f "$canaries" "$canaries.probe"' EXIT
# Short values (under 12 characters) would match by chance; none of the simulator's are short.
awk 'length($0) >= 12' "$list" | sort -u > "$canaries"
total=$(wc -l < "$canaries")
[ "$total" -gt 0 ] || { say "every recorded secret is too short to look for"; exit 2; }

# The matcher itself must find a planted secret, or a clean result means nothing.
printf 'a line with %s inside\n' "$(head -n 1 "$canaries")" > "$canaries.probe"
grep -qF -f "$canaries" "$canaries.probe" || { say "the matcher does not find a planted secret"; exit 2; }

files=()
for target in "$@"; do
  if [ -d "$target" ]; then
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$target" -type f -print0)
  elif [ -f "$target" ]; then
    files+=("$target")
  fi
done
[ "${#files[@]}" -gt 0 ] || { say "no log to scan"; exit 2; }
bytes=$(cat "${files[@]}" | wc -c)

if hits=$(grep -oHF -f "$canaries" "${files[@]}" | sort -u); then
  say "secrets found in logs:"
  while IFS= read -r hit; do
    file="${hit%%:*}"; secret="${hit#*:}"
    say "  $file: ${secret:0:6}… (${#secret} characters)"
  done <<< "$hits"
  exit 1
fi
say "none of $total secrets in ${#files[@]} files ($bytes bytes)"
