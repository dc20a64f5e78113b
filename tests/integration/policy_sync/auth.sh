#!/usr/bin/env bash
# The token: sent as a bearer token, read from --token-file or LENS_TOKEN,
# never logged. An upgrade answered 401 or 403 ends lens-policy-sync at once
# with exit 4 and one clear message, without a retry; a 503 is retried.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

cp=$work/cp
start_fixture "$cp" --token "right-$$"
url="ws://127.0.0.1:$port/sync"

# refused NAME STATUS: lens-policy-sync exits 4 fast, with one message, after one attempt.
refused() {
  local name=$1 status=$2 before=$3
  SECONDS=0
  wait_exit "$sync_pid"
  local after
  after=$(field "$cp" '{"cmd":"status"}' refused)
  local errors
  errors=$(grep -c "lens-policy-sync: " "$work/$name.err" || true)
  if [[ $rc == 4 && $SECONDS -le 3 && $errors == 1 ]] &&
    grep -q "^lens-policy-sync: $url: the control plane refused the token: HTTP $status .*; not retrying$" "$work/$name.err"; then
    pass "HTTP $status: exit 4 at once: $(grep '^lens-policy-sync: ' "$work/$name.err")"
  else
    fail "HTTP $status: exit $rc after ${SECONDS}s; stderr: $(cat "$work/$name.err")"
  fi
  [[ -n $before && $((after - before)) -eq 1 ]] && pass "HTTP $status: no retry" || fail "HTTP $status: $((after - before)) attempts"
  if grep -q -- "-$$" "$work/$name.err"; then fail "HTTP $status: a token appears in the log"; fi
}

before=$(field "$cp" '{"cmd":"status"}' refused)
LENS_TOKEN="wrong-$$" start_sync wrong --url "$url" --state-dir "$work/s1"
refused wrong 401 "$before"

ctl "$cp" '{"cmd":"refuse","status":403}' >/dev/null
printf 'right-%s\n' $$ >"$work/token"
before=$(field "$cp" '{"cmd":"status"}' refused)
start_sync forbidden --url "$url" --token-file "$work/token" --state-dir "$work/s2"
refused forbidden 403 "$before"

# 503 is a failure to retry, not a refusal.
ctl "$cp" '{"cmd":"refuse","status":503}' >/dev/null
LENS_TOKEN="right-$$" start_sync busy --url "$url" --state-dir "$work/s3"
if wait_for 10 status_at_least "$cp" refused 4; then
  pass "HTTP 503 is retried"
else
  fail "HTTP 503 was not retried: $(cat "$work/busy.err")"
fi
ctl "$cp" '{"cmd":"refuse","status":0}' >/dev/null
[[ $(field "$cp" '{"cmd":"wait_clients","count":1,"timeout":10}' ok) == True ]] &&
  pass "connected with LENS_TOKEN once the server accepts" || fail "no connection after the 503s"
grep -q "upgrade refused: HTTP 503" "$work/busy.err" && pass "the 503 is logged" || fail "503 not in the log"
kill -TERM "$sync_pid"
wait_exit "$sync_pid"
[[ $rc == 0 ]] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"

# No token at all, or only on the command line: a configuration error.
rc=0
env -u LENS_TOKEN "$sync_bin" --url "$url" --state-dir "$work/s4" 2>"$work/none.err" || rc=$?
if [[ $rc == 3 ]] && grep -q "no token: give --token-file FILE or set LENS_TOKEN" "$work/none.err"; then
  pass "no token: exit 3 with the fix"
else
  fail "no token: exit $rc: $(cat "$work/none.err")"
fi
rc=0
env -u LENS_TOKEN "$sync_bin" --url "$url" --token "right-$$" 2>"$work/argv.err" || rc=$?
[[ $rc == 2 ]] && pass "there is no --token option (exit 2)" || fail "--token accepted (exit $rc)"
finish
