#!/usr/bin/env bash
# lens-proxy ca env and ca export --format pkcs12: the trust every common
# runtime and the JVM are given. In a state directory whose path needs
# quoting (a space and a quote), `eval` of `ca env` (by dash, and by fish when
# installed) sets every variable to an existing file that holds the CA: the
# bundle (system roots + CA), the CA alone for node, and a PKCS#12 trust
# store in JAVA_TOOL_OPTIONS that keytool lists as a trusted entry. With java
# and javac, a Java client trusting nothing but JAVA_TOOL_OPTIONS reaches a
# server whose certificate the CA signed, through the proxy those options
# name (servers.py's CONNECT proxy, which logs what it tunnels), and straight
# to a host of --no-proxy. After `ca init --force` both files are rebuilt;
# a named bundle without the CA is refused.
#
# Exit status: 0 pass, 77 skip (with the reason), 1 fail.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
for tool in openssl python3 dash; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
source "$(dirname "${BASH_SOURCE[0]}")/ca_common.sh"
fail() {
  echo "FAIL: $*" >&2
  failed=1
}

state="$work/it's a state"
mkdir -p "$state"
ca=$state/ca/ca.crt
variables=(SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE NODE_EXTRA_CA_CERTS GIT_SSL_CAINFO AWS_CA_BUNDLE PIP_CERT
  CARGO_HTTP_CAINFO DENO_CERT NPM_CONFIG_CAFILE GRPC_DEFAULT_SSL_ROOTS_FILE_PATH JAVA_TOOL_OPTIONS
  HTTP_PROXY HTTPS_PROXY http_proxy https_proxy NO_PROXY no_proxy)
roots=/etc/ssl/certs/ca-certificates.crt

# env_after SHELL FILE: the variables above as NAME=VALUE lines after the
# shell evaluates FILE, in an empty environment.
env_after() {
  local shell=$1 file=$2
  case $shell in
    sh) env -i PATH="$PATH" dash -c 'eval "$(cat "$1")" && env' sh "$file" ;;
    fish) env -i PATH="$PATH" HOME="$work" fish --no-config -c 'source $argv[1]; and env' "$file" ;;
  esac | grep -E "^($(
    IFS='|'
    echo "${variables[*]}"
  ))=" | sort
}

check "ca init" "$proxy" ca init --state-dir "$state"
args=(--state-dir "$state" --proxy 127.0.0.1:3128 --no-proxy "localhost, .internal.test,::1")
"$proxy" ca env "${args[@]}" >"$work/env.sh"
env_after sh "$work/env.sh" >"$work/env.txt"
check "eval sets every variable, once" test "$(cut -d= -f1 "$work/env.txt" | sort -u | wc -l)" = "${#variables[@]}"

value() { sed -n "s/^$1=//p" "$work/env.txt"; }
for v in "${variables[@]:0:11}"; do
  file=$(value "$v")
  check "$v names a file that trusts the CA ($file)" openssl verify -CAfile "$file" "$ca"
done
check "NODE_EXTRA_CA_CERTS is the CA alone" cmp "$(value NODE_EXTRA_CA_CERTS)" "$ca"
bundle=$(value SSL_CERT_FILE)
check "the others the bundle in the CA directory" test "$bundle" = "$state/ca/bundle.pem"
if [[ -r $roots ]]; then
  check "which is the system roots and the CA" test \
    "$(grep -c BEGIN "$bundle")" = "$(($(grep -c BEGIN "$roots") + 1))"
fi
check "the proxy variables" test "$(value HTTPS_PROXY) $(value http_proxy) $(value NO_PROXY)" = \
  "http://127.0.0.1:3128 http://127.0.0.1:3128 localhost,.internal.test,::1"
java_options=$(value JAVA_TOOL_OPTIONS)
store=$state/ca/truststore.p12
for want in "\"-Djavax.net.ssl.trustStore=$store\"" -Djavax.net.ssl.trustStoreType=PKCS12 \
  -Djavax.net.ssl.trustStorePassword=changeit -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=3128 \
  -Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=3128 \
  "-Dhttp.nonProxyHosts=localhost|*.localhost|internal.test|*.internal.test|[::1]"; do
  check "JAVA_TOOL_OPTIONS has $want" grep -qF -- " $want " <<<" $java_options "
done
check "the trust store's MAC checks with changeit" \
  openssl pkcs12 -in "$store" -passin pass:changeit -nokeys -info -out "$work/store.pem"
check "the trust store holds the bundle's certificates" test \
  "$(grep -c BEGIN "$work/store.pem")" = "$(grep -c BEGIN "$bundle")"
check "each with the Java trust attribute" test \
  "$(grep -c '2.16.840.1.113894.746875.1.1' "$work/store.pem")" = "$(grep -c BEGIN "$bundle")"

if command -v fish >/dev/null; then
  "$proxy" ca env "${args[@]}" --shell fish >"$work/env.fish"
  check "fish -n accepts the fish output" fish --no-config -n "$work/env.fish"
  env_after fish "$work/env.fish" >"$work/env-fish.txt"
  check "fish sets the same variables to the same values" cmp "$work/env.txt" "$work/env-fish.txt"
else
  echo "skip: fish is not installed (the fish output is not evaluated)"
fi

# --- the JVM ---------------------------------------------------------------------

export_pkcs12() { "$proxy" ca export --state-dir "$state" --format pkcs12 --out "$work/ca.p12" "$@"; }
if command -v keytool >/dev/null; then
  check "keytool lists the trust store's CA as a trusted entry" grep -q '^lens sandbox ca, .*trustedCertEntry' \
    <(keytool -list -keystore "$store" -storepass changeit 2>&1)
  check "ca export --format pkcs12" export_pkcs12
  check "keytool lists exactly that entry" test "$(keytool -list -keystore "$work/ca.p12" -storepass changeit 2>&1 |
    grep -c trustedCertEntry)" = 1
  check "its fingerprint is the CA's" grep -qi "$(openssl x509 -in "$ca" -noout -fingerprint -sha256 | sed 's/.*=//')" \
    <(keytool -list -keystore "$work/ca.p12" -storepass changeit 2>&1)
else
  echo "skip: keytool is not installed (default-jre-headless); the PKCS#12 store was checked with openssl only"
fi

if command -v java >/dev/null && command -v javac >/dev/null; then
  # An origin for origin.test and localhost with a certificate the CA signed.
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=origin.test \
    -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
  printf 'subjectAltName=DNS:origin.test,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$work/leaf.ext"
  openssl x509 -req -in "$work/leaf.csr" -CA "$ca" -CAkey "$state/ca/ca.key" -CAcreateserial -days 1 \
    -extfile "$work/leaf.ext" -out "$work/leaf.crt" 2>/dev/null
  servers=$source_dir/tests/integration/proxy/servers.py
  python3 "$servers" origin --listen 127.0.0.1:0 --tls "$work/leaf.crt" "$work/leaf.key" \
    --ready "$work/origin.ready" 2>>"$work/servers.log" &
  pids+=($!)
  python3 "$servers" upstream --listen 127.0.0.1:0 --log "$work/proxy.log" --map origin.test=127.0.0.1 \
    --ready "$work/proxy.ready" 2>>"$work/servers.log" &
  pids+=($!)
  for ((i = 0; i < 100; i++)); do
    [[ -e $work/origin.ready && -e $work/proxy.ready ]] && break
    sleep 0.05
  done
  [[ -e $work/origin.ready && -e $work/proxy.ready ]] || {
    echo "FAIL: servers.py did not start: $(cat "$work/servers.log")" >&2
    exit 1
  }
  origin_port=$(cut -d' ' -f2 "$work/origin.ready")
  proxy_port=$(cut -d' ' -f2 "$work/proxy.ready")
  cat >"$work/Fetch.java" <<'JAVA'
import java.io.InputStream;
import java.net.URL;
public class Fetch {
  public static void main(String[] args) throws Exception {
    try (InputStream in = new URL(args[0]).openConnection().getInputStream()) {
      System.out.print(new String(in.readAllBytes()));
    }
  }
}
JAVA
  "$proxy" ca env --state-dir "$state" --proxy "127.0.0.1:$proxy_port" --no-proxy localhost >"$work/java-env.sh"
  # run_java URL [JAVA_OPTION...]: Fetch with nothing but what ca env set for
  # the JVM (HTTPS_PROXY removed, so only the JVM's own properties can name
  # the proxy).
  run_java() {
    env -i PATH="$PATH" HOME="$work" bash -c 'eval "$(cat "$1")"; unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy
      exec java "${@:4}" "$2" "$3"' sh "$work/java-env.sh" "$work/Fetch.java" "$@"
  }
  check "java trusts the CA through JAVA_TOOL_OPTIONS, via the proxy it names" \
    grep -q "^origin GET /" <(run_java "https://origin.test:$origin_port/" 2>&1)
  check "the proxy tunnelled it" grep -q "^CONNECT origin.test:$origin_port " "$work/proxy.log"
  check "localhost (in --no-proxy) goes straight" grep -q "^origin GET /" <(run_java "https://localhost:$origin_port/" 2>&1)
  check "and not through the proxy" test "$(grep -c CONNECT "$work/proxy.log")" = 1
  # A trust store on the command line wins over JAVA_TOOL_OPTIONS.
  java_cacerts=$(dirname "$(readlink -f "$(command -v java)")")/../lib/security/cacerts
  if run_java "https://origin.test:$origin_port/" "-Djavax.net.ssl.trustStore=$java_cacerts" >"$work/java.out" 2>&1; then
    fail "java trusted the origin with its own cacerts"
  else
    echo "ok: with its own cacerts java does not trust the origin (the exported store is what trusts it)"
  fi
else
  echo "skip: java and javac are not both installed (no Java client run)"
fi

# --- a new CA, a named bundle, bad input -------------------------------------------

check "ca init --force" "$proxy" ca init --state-dir "$state" --force
"$proxy" ca env --state-dir "$state" >"$work/env.sh"
env_after sh "$work/env.sh" >"$work/env.txt"
check "the bundle is rebuilt for the new CA" openssl verify -CAfile "$(value SSL_CERT_FILE)" "$ca"
check "without --proxy, no proxy variable" test -z "$(value HTTPS_PROXY)$(value NO_PROXY)"
store_trusts_ca() {
  openssl pkcs12 -in "$store" -passin pass:changeit -nokeys -out "$work/store.pem" &&
    openssl verify -CAfile "$work/store.pem" "$ca"
}
check "so is the trust store" store_trusts_ca
check "ca env --bundle names that bundle" grep -qF "export CURL_CA_BUNDLE='$work/own.pem'" \
  <(cp "$bundle" "$work/own.pem" && "$proxy" ca env --state-dir "$state" --bundle "$work/own.pem")

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -keyout /dev/null \
  -out "$work/other.pem" 2>/dev/null
expect_status 3 "does not hold the CA certificate" "a bundle without the CA is refused" \
  "$proxy" ca env --state-dir "$state" --bundle "$work/other.pem"
check "with nothing for eval on standard output" test -z \
  "$("$proxy" ca env --state-dir "$state" --bundle "$work/other.pem" 2>/dev/null || true)"
expect_status 2 "requires --proxy" "--no-proxy without --proxy is a usage error" \
  "$proxy" ca env --state-dir "$state" --no-proxy localhost
expect_status 2 "HOST:PORT" "a proxy without a port is a usage error" \
  "$proxy" ca env --state-dir "$state" --proxy 127.0.0.1
expect_status 2 "entry 2" "a no-proxy entry the JVM cannot read is a usage error" \
  "$proxy" ca env --state-dir "$state" --proxy 127.0.0.1:3128 --no-proxy "a,b|c"
expect_status 2 "csh" "--shell csh is a usage error" "$proxy" ca env --state-dir "$state" --shell csh
expect_status 2 "der" "--format der is a usage error" "$proxy" ca export --state-dir "$state" --format der
expect_status 1 "does not exist" "ca env without a CA fails" "$proxy" ca env --ca-dir "$work/none"

exit "$failed"
