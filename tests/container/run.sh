#!/usr/bin/env bash
# The toolkit in a real container: scripts/image builds the image, podman
# (runtime runc) runs it with --cap-add NET_ADMIN on a podman network whose
# host side serves HTTP and DNS (dnsmasq and python3 on the bridge's
# gateway address). Inside, lens-entrypoint cages the container, starts the
# daemons and runs a bash workload as `sandbox`:
#   an allowed request through lens-proxy and directly (lens-tproxy), a
#   denied one (403, audited), UDP refused by the cage (audited), the
#   workload's exit status coming back from podman run; `podman stop` ends a
#   running one cleanly within the drain time; without NET_ADMIN the run
#   fails with exit 5 and says why, nothing started; a read-only root
#   without a writable state directory says so too, and a policy that does
#   not parse exits 3 with its located error.
# Skips (77) without root, podman, debootstrap, or when podman cannot run
# a container here. Label "container"; the debootstrap root is kept in
# $LENS_IMAGE_CACHE (default /var/tmp/lens-image) between runs.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"  # skip, wait_for, source_dir
[[ $(id -u) -eq 0 ]] || skip "needs root"
for need in podman debootstrap dnsmasq python3; do
  command -v "$need" >/dev/null || skip "needs $need (apt-get install podman runc debootstrap dnsmasq-base)"
done
build=$(dirname "$bin_dir")
[[ -x $build/cmd/lens-proxy ]] || skip "the toolkit is not built in $build"

tag=lens-sandbox-core:test-$$
net=lens-ct-$$
octet=$(($$ % 200 + 20))
gw=10.89.$octet.1
work=$(mktemp -d)
chmod 755 "$work"
pids=()
containers=()
cleanup() {
  local c p
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
  podman rmi -f "$tag" >/dev/null 2>&1 || true
  if [[ -n ${LENS_KEEP_WORK:-} ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

failures=0
check() {
  local what=$1
  shift
  [[ $1 == -- ]] && shift
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what" >&2
    failures=$((failures + 1))
  fi
}

echo "== the image"
started=$SECONDS
"$source_dir/scripts/image" --build-dir "$build" --tag "$tag" >"$work/image.out" 2>"$work/image.err" ||
  { cat "$work/image.err" >&2; echo "FAIL scripts/image" >&2; exit 1; }
echo "   $(head -1 "$work/image.out") (built in $((SECONDS - started)) s)"
# podman's default ulimits exceed this machine's hard limits, and crun
# refuses its cgroup layout: runc, with explicit limits.
run=(podman run --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
"${run[@]}" --rm --network none --entrypoint /bin/true "$tag" 2>"$work/probe.err" ||
  skip "podman cannot run a container here: $(tail -1 "$work/probe.err")"
check "the image is small (under 150 MiB)" -- \
  test "$(podman image inspect --format '{{.Size}}' "$tag")" -lt $((150 * 1024 * 1024))
# (The shell lists any compiler it finds, then says it ran: a failed run is no pass.)
compilers=$("${run[@]}" --rm --network none --entrypoint /bin/sh "$tag" -c \
  'command -v cc gcc g++ c++ clang clang++; echo ran' 2>&1 || true)
check "it has no compiler (${compilers//$'\n'/ })" -- test "$compilers" = ran

echo "== without NET_ADMIN"
rc=0
"${run[@]}" --rm --network none "$tag" --policy /usr/local/share/lens/examples/default.json -- /bin/true \
  >"$work/nocap.out" 2>"$work/nocap.err" || rc=$?
check "exit 5 ($rc)" -- test "$rc" -eq 5
check "saying why: $(head -1 "$work/nocap.err")" -- grep -q 'CAP_NET_ADMIN is missing.*--cap-add NET_ADMIN' "$work/nocap.err"
check "nothing was started" -- bash -c "! grep -q 'ready' '$work/nocap.err'"

echo "== a read-only root without a writable state directory"
rc=0
# (/run/lens is a volume of the image: writable even then; another state
# directory on the read-only root is not.)
"${run[@]}" --rm --network none --cap-add NET_ADMIN --read-only --read-only-tmpfs=false \
  -e LENS_STATE_DIR=/var/lib/lens "$tag" \
  --policy /usr/local/share/lens/examples/default.json -- /bin/true >/dev/null 2>"$work/ro.err" || rc=$?
check "exit 5, saying the state directory is not writable ($rc: $(head -1 "$work/ro.err"))" -- \
  bash -c "test $rc -eq 5 && grep -q 'state directory /var/lib/lens is not writable' '$work/ro.err'"

echo "== a policy that does not parse"
printf '{"network": {"defaultVerdict": "alow"' >"$work/broken.json"
rc=0
"${run[@]}" --rm --network none --cap-add NET_ADMIN -v "$work/broken.json:/etc/lens/policy.json:ro" "$tag" \
  --policy /etc/lens/policy.json -- /bin/true >/dev/null 2>"$work/broken.err" || rc=$?
check "exit 3, with the located error ($rc: $(grep -m1 'policy.json:' "$work/broken.err"))" -- \
  bash -c "test $rc -eq 3 && grep -q '/etc/lens/policy.json:1:' '$work/broken.err' && grep -q 'invalid policy' '$work/broken.err'"

echo "== the network: HTTP and DNS on the host side of a podman network"
podman network create --disable-dns --subnet "10.89.$octet.0/24" --gateway "$gw" "$net" >/dev/null
# The bridge exists once a container is on it.
containers+=("lens-ct-anchor-$$")
"${run[@]}" -d --name "lens-ct-anchor-$$" --network "$net" --entrypoint /bin/sleep "$tag" 600 >/dev/null
wait_for 10 bash -c "ip -4 -o addr show | grep -q ' $gw/'" || { echo "FAIL the bridge has no $gw" >&2; exit 1; }
dnsmasq --keep-in-foreground --port=53 --listen-address="$gw" --bind-interfaces --no-resolv --no-hosts \
  --pid-file= --log-queries --log-facility="$work/dnsmasq.log" \
  --address=/web.test/"$gw" --address=/denied.test/"$gw" &
pids+=($!)
mkdir -p "$work/www"
echo "hello from the host" >"$work/www/hello"
python3 -m http.server --bind "$gw" --directory "$work/www" 8080 >"$work/http.log" 2>&1 &
pids+=($!)
wait_for 10 bash -c "echo > /dev/tcp/$gw/8080" 2>/dev/null || { echo "FAIL the HTTP server did not start" >&2; exit 1; }

mkdir -p "$work/state"
cat >"$work/policy.json" <<'JSON'
{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "web.test:8080", "verdict": "allow", "transport": "direct"}]}}}
JSON
cat >"$work/workload.sh" <<'SH'
# Runs as `sandbox` inside the cage; bash only (no client tools in the image).
gw=$1
result() { echo "RESULT $*"; }
# get HOST PORT HOST_HEADER TARGET: the status line of one HTTP/1.1 request.
get() {
  exec 3<>"/dev/tcp/$1/$2" || { echo "connect failed"; return; }
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$4" "$3" >&3
  head -1 <&3 | tr -d '\r'
  exec 3<&-
}
echo "user $(id -un), caps $(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"
result proxy-allowed "$(get 127.0.0.1 3128 web.test:8080 http://web.test:8080/hello)"
ip=$(getent hosts web.test | cut -d' ' -f1)
result dns "$ip"
result direct-allowed "$(get "$ip" 8080 web.test:8080 /hello)"
result proxy-denied "$(get 127.0.0.1 3128 denied.test:8080 http://denied.test:8080/secret)"
result denied-dns "$(getent hosts denied.test || echo none)"
result udp "$( (echo x >"/dev/udp/$gw/9999") 2>&1 | grep -o 'Operation not permitted' | head -1)"
exit 7
SH
common=(--network "$net" --dns "$gw" --cap-add NET_ADMIN -v "$work/policy.json:/etc/lens/policy.json:ro"
  -v "$work/workload.sh:/workload.sh:ro" -v "$work/state:/run/lens")

echo "== a workload in the cage"
rc=0
"${run[@]}" --rm "${common[@]}" "$tag" --policy /etc/lens/policy.json -- /bin/bash /workload.sh "$gw" \
  >"$work/run.out" 2>"$work/run.err" || rc=$?
sed 's/^/   /' "$work/run.out"
result() { sed -n "s/^RESULT $1 //p" "$work/run.out"; }
check "the workload's exit status comes back from podman run (7; got $rc)" -- test "$rc" -eq 7
check "it ran as sandbox without capabilities" -- grep -q '^user sandbox, caps 0000000000000000$' "$work/run.out"
check "an allowed request through lens-proxy: 200" -- test "$(result proxy-allowed)" = "HTTP/1.1 200 OK"
check "web.test resolves through lens-dns to $gw" -- test "$(result dns)" = "$gw"
check "the same request directly, through lens-tproxy: 200" -- test "$(result direct-allowed)" = "HTTP/1.1 200 OK"
check "a denied one: 403" -- test "$(result proxy-denied)" = "HTTP/1.1 403 Forbidden"
check "denied.test does not resolve" -- test "$(result denied-dns)" = none
check "UDP is refused by the cage" -- test "$(result udp)" = "Operation not permitted"
check "the denied request is audited" -- \
  grep -q '"action":"GET http://denied.test:8080/secret".*"reason":"policy-deny"' "$work/state/audit.log"
check "the refused datagram is audited" -- grep -q '"action":"UDP '"$gw"':9999"' "$work/state/audit.log"
check "the daemons were stopped and the cage removed" -- grep -q 'lens-down: stopped: .*cage removed' "$work/run.err"

echo "== podman stop"
name=lens-ct-stop-$$
containers+=("$name")
"${run[@]}" -d --name "$name" "${common[@]}" "$tag" --policy /etc/lens/policy.json -- /bin/sleep 300 >/dev/null
ready() { podman logs "$name" 2>&1 | grep -q 'lens-up: ready'; }
wait_for 30 ready || echo "   (not ready: $(podman logs "$name" 2>&1 | tail -2))"
started=$SECONDS
podman stop -t 20 "$name" >/dev/null
took=$((SECONDS - started))
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
check "it stopped in $took s (within the 10 s drain)" -- test "$took" -le 12
check "the workload ended by SIGTERM (exit $code, 143 = 128+15)" -- test "$code" -eq 143
check "the daemons were stopped on the way out" -- bash -c "podman logs '$name' 2>&1 | grep -q 'lens-down: stopped'"

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
