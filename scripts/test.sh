#!/usr/bin/env bash
# Blazz's one test command (CI runs it too): a venv at .venv with the test and build extras, Debian's Chromium for
# the end-to-end tests, then ruff and pytest. Arguments go to pytest, e.g. `bash scripts/test.sh -m "not e2e" -x`.
# In CI (CI=true), or with BLAZZ_BUILD_BINARY=1, it first builds the one-file binary (packaging/build.sh, cached by
# a hash of its sources), which tests/e2e/test_packaged_binary.py then smoke-tests; elsewhere that test runs only
# when packaging/dist/blazz matches the sources. Safe to run again: every step skips what is already in place.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
VENV="$ROOT/.venv"
CHROMIUM=/usr/bin/chromium
# Playwright drives Debian's Chromium; it must never fetch browsers of its own (this network would refuse anyway).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive

say() { printf '==> %s\n' "$*"; }
started=$SECONDS
apt_pid="" apt_log="" pip_log=""
trap 'rm -f "$apt_log" "$pip_log"' EXIT

# Chromium installs in the background while pip works: the two downloads overlap instead of adding up.
if [[ -x "$CHROMIUM" ]]; then
  :
elif [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
  say "Installing Debian's Chromium for the end-to-end tests (in the background)"
  apt_log="$(mktemp)"
  (apt-get update -qq && apt-get install -y -qq chromium) >"$apt_log" 2>&1 &
  apt_pid=$!
else
  say "No $CHROMIUM: the end-to-end tests will be skipped. To run them: sudo apt-get install -y chromium"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  say "Creating the virtualenv at .venv"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    rm -rf "$VENV"
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
      if [[ -n "$apt_pid" ]]; then wait "$apt_pid" || { cat "$apt_log"; exit 1; }; apt_pid=""; fi
      apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$VENV"
    else
      echo "python3 -m venv failed; install it (sudo apt-get install -y python3-venv) and run again." >&2
      exit 1
    fi
  fi
fi

# Reinstall only when pyproject.toml changed since the last install into this venv.
stamp="$VENV/.blazz-test-deps"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  say "Installing Blazz and its test dependencies into .venv"
  pip_log="$(mktemp)"
  # Its warnings are noise on a good day; on a bad one the whole log is shown.
  if ! "$VENV/bin/python" -m pip install -q -e '.[test,build]' >"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    echo "pip install failed (output above)." >&2
    exit 1
  fi
  echo "$want" >"$stamp"
fi

if [[ -n "$apt_pid" ]]; then
  if ! wait "$apt_pid"; then
    cat "$apt_log" >&2
    echo "Installing Chromium failed (output above)." >&2
    exit 1
  fi
  say "Chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
fi

if [[ "${CI:-}" == true || "${BLAZZ_BUILD_BINARY:-}" == 1 ]]; then
  # A minute or two when the sources changed, a second when the cached build still matches them.
  PYTHON="$VENV/bin/python" bash packaging/build.sh
fi

# Lint failures fail the run, but pytest still runs so one round trip shows everything.
say "ruff check"
lint_rc=0
"$VENV/bin/ruff" check . || lint_rc=$?

say "pytest"
rc=0
"$VENV/bin/python" -m pytest "$@" || rc=$?
# 5 means no test was collected (e.g. a -k that matches nothing): not a failure of the code under test.
if [[ $rc -eq 5 ]]; then
  rc=0
fi
say "done in $((SECONDS - started)) s (ruff exit $lint_rc, pytest exit $rc)"
if [[ $lint_rc -ne 0 ]]; then
  exit "$lint_rc"
fi
exit "$rc"
