#!/usr/bin/env bash
# Smoke test of a built Blazz binary, as a person would use it, in a temporary data folder:
#   bash packaging/smoke.sh [path/to/blazz]        (default: packaging/dist/blazz)
# --version; admin commands create a user and a workspace; `serve --port 0` answers /health; the login page and a
# static file load; a real login gets one Server-Sent Event from the workspace stream; a second launch on the same
# data folder is refused with the running one's address; Ctrl-C stops it cleanly and empties the lock file.
# Needs curl. Exit status 0 when every check passed; on failure the server's output is shown.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${1:-packaging/dist/blazz}"
START_TIMEOUT_S=60
STOP_TIMEOUT_S=20
EMAIL="smoke@blazz.test"
PASSWORD="correct horse battery staple"

if [[ ! -x "$BIN" ]]; then
  echo "smoke: no binary at $BIN; build it with: bash packaging/build.sh" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "smoke: needs curl (apt-get install -y curl)" >&2; exit 2; }

WORK="$(mktemp -d)"
DATA="$WORK/data"
LOG="$WORK/server.log"
PID=""
cleanup() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

ok() { printf 'smoke: ok    %s\n' "$*"; }
fail() {
  printf 'smoke: FAIL  %s\n' "$*" >&2
  if [[ -s "$LOG" ]]; then
    echo "smoke: server output:" >&2
    sed 's/^/  | /' "$LOG" >&2
  fi
  exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# -- the command line ---------------------------------------------------------------------------------------------
version="$("$BIN" --version)" || fail "--version exited with $?"
[[ "$version" == blazz\ * ]] || fail "--version printed '$version'"
ok "$version ($(du -mL "$BIN" | cut -f1) MB)"

"$BIN" admin create-user --email "$EMAIL" --password "$PASSWORD" --name Smoke --data-dir "$DATA" >/dev/null \
  || fail "admin create-user"
slug="$("$BIN" admin create-workspace --name "Smoke Shop" --owner "$EMAIL" --data-dir "$DATA")" \
  || fail "admin create-workspace"
ok "admin commands made a user and the workspace '$slug'"

# -- the server ---------------------------------------------------------------------------------------------------
started="$(now)"
"$BIN" serve --port 0 --data-dir "$DATA" >"$LOG" 2>&1 &
PID=$!
url=""
deadline=$((SECONDS + START_TIMEOUT_S))
while [[ -z "$url" ]]; do
  kill -0 "$PID" 2>/dev/null || fail "the server exited while starting"
  ((SECONDS < deadline)) || fail "the server printed no address within ${START_TIMEOUT_S} s"
  url="$(grep -o 'running at http://[^/ ]*' "$LOG" | head -n1 | sed 's/running at //')" || true
  [[ -n "$url" ]] || sleep 0.02
done
until curl -fsS -o /dev/null --max-time 2 "$url/health" 2>/dev/null; do
  kill -0 "$PID" 2>/dev/null || fail "the server exited before /health answered"
  ((SECONDS < deadline)) || fail "/health did not answer 200 within ${START_TIMEOUT_S} s"
  sleep 0.02
done
ok "/health answered 200 $(elapsed "$started") s after start ($url)"
curl -fsS "$url/health" | grep -q '"status":"ok"' || fail "/health does not say ok: $(curl -sS "$url/health")"

# -- pages, static files, login, one SSE event --------------------------------------------------------------------
jar="$WORK/cookies"
page="$(curl -fsS -c "$jar" -b "$jar" "$url/login")" || fail "GET /login"
grep -q 'name="password"' <<<"$page" || fail "the login page has no password field"
curl -fsS -o /dev/null "$url/static/vendor/htmx-2.0.11.min.js" || fail "GET the vendored htmx"
ok "the login page and a static file load"

csrf="$(awk '$6 == "blazz_csrf" { print $7 }' "$jar")"
[[ -n "$csrf" ]] || fail "no CSRF cookie after GET /login"
where="$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -c "$jar" -b "$jar" -H "x-csrftoken: $csrf" \
  --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" "$url/login")"
[[ "$where" == 30[123]\ *"/w/$slug/"* ]] || fail "login answered '$where', expected a redirect into /w/$slug/"
inbox_status="$(curl -sS -o /dev/null -w '%{http_code}' -b "$jar" -L "$url/w/$slug/inbox")"
[[ "$inbox_status" == 200 ]] || fail "the inbox page answered $inbox_status after login"
# The stream says hello at once; curl stops after 3 s either way (exit 28), so its status is not the verdict.
curl -sS -N --max-time 3 -b "$jar" -H 'accept: text/event-stream' "$url/w/$slug/events" >"$WORK/sse" 2>/dev/null || true
grep -q '^event: hello' "$WORK/sse" || fail "no SSE event from /w/$slug/events; got: $(head -c 300 "$WORK/sse")"
ok "logged in, the inbox page loads and the event stream sent its first event"

# -- one instance per data folder ---------------------------------------------------------------------------------
set +e
second="$("$BIN" serve --port 0 --data-dir "$DATA" 2>&1)"
second_rc=$?
set -e
[[ $second_rc -eq 1 && "$second" == *"already running"*"$url"* ]] \
  || fail "a second launch on the same data folder (exit $second_rc) said: $second"
ok "a second launch is refused and names the running one's address"

# -- Ctrl-C -------------------------------------------------------------------------------------------------------
stopping="$(now)"
kill -INT "$PID"
deadline=$((SECONDS + STOP_TIMEOUT_S))
while kill -0 "$PID" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the server did not stop within ${STOP_TIMEOUT_S} s of Ctrl-C"
  sleep 0.05
done
set +e
wait "$PID"
rc=$?
set -e
PID=""
[[ $rc -eq 0 ]] || fail "the server exited with status $rc after Ctrl-C"
grep -q "Blazz stopped" "$LOG" || fail "the server did not say it stopped"
! grep -q Traceback "$LOG" || fail "the server printed a traceback"
[[ ! -s "$DATA/blazz.lock" ]] || fail "the lock file still holds a record after a clean stop: $(cat "$DATA/blazz.lock")"
ok "Ctrl-C stopped it cleanly in $(elapsed "$stopping") s"
echo "smoke: all checks passed"
