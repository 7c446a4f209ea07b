#!/usr/bin/env bash
# Tools only the test suite uses, idempotently (a second run does nothing):
#   actionlint  (go install, pinned, into ./.bin)  checks the example GitHub workflows;
#   shellcheck  (Debian)                           actionlint runs it on their scripts;
#   chromium    (Debian)                           renders the nightly report in a test.
# Where one cannot be had, the tests that need it skip and say why.
set -uo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.bin"
mkdir -p "$bin"
say() { printf 'install-test-tools: %s\n' "$*"; }

stamp="$bin/actionlint.version"
if [ -x "$bin/actionlint" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ACTIONLINT_VERSION" ]; then
  say "actionlint $ACTIONLINT_VERSION present in .bin"
elif command -v go >/dev/null 2>&1; then
  say "building actionlint $ACTIONLINT_VERSION with go install"
  if GOBIN="$bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"; then
    echo "$ACTIONLINT_VERSION" > "$stamp"
  else
    say "actionlint could not be built: the workflow lint test will skip"
  fi
else
  say "no Go: the workflow lint test will skip"
fi

wanted=()
command -v shellcheck >/dev/null 2>&1 || wanted+=(shellcheck)
command -v chromium >/dev/null 2>&1 || wanted+=(chromium)
if [ "${#wanted[@]}" -eq 0 ]; then
  say "shellcheck and chromium present"
elif command -v apt-get >/dev/null 2>&1; then
  say "installing ${wanted[*]} from Debian"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! $sudo apt-get install -y -q --no-install-recommends "${wanted[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -q >/dev/null 2>&1
    $sudo apt-get install -y -q --no-install-recommends "${wanted[@]}" >/dev/null 2>&1 \
      || say "could not install ${wanted[*]}: the tests that need them will skip"
  fi
else
  say "no apt-get: ${wanted[*]} missing, the tests that need them will skip"
fi
exit 0
