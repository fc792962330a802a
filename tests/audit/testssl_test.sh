#!/usr/bin/env bash
# testssl.sh (Debian's, 3.0) on the WinRM HTTPS front of a real jitgated on
# loopback, with its self-made certificate: protocols, server defaults and
# certificate, server preference, forward secrecy, the ciphers per protocol
# and the vulnerability checks. Every finding above OK/INFO must be on the
# allow-list in docs/WINRM.md ("Scanners"), each with its reason, and every
# entry there (but WARN, a check it could not do) must still be reported. Prints testssl.sh's wall time.
# Usage: testssl_test.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1 build=$2
jitgated=$build/proxy/jitgated
if ! command -v testssl >/dev/null; then
  echo "FAILED: testssl.sh is not installed (scripts/setup-deps.sh installs it)"
  exit 1
fi
dir=$(mktemp -d /tmp/jgtestssl.XXXXXX)
daemon=""
finish() {
  [ -z "$daemon" ] || { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
  rm -rf "$dir"
}
trap finish EXIT
fail=0
say_fail() { echo "FAILED: $*"; fail=1; }

"$jitgated" --state-dir "$dir/state" --control-socket "$dir/c.sock" \
  --ssh-listen off --winrm-http-listen off --winrm-https-listen 127.0.0.1:0 \
  --metrics-listen off >"$dir/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
  grep -q "jitgated ready" "$dir/daemon.log" && break
  sleep 0.1
done
port=$(grep -o 'jitgated ready: .*winrm-https 127\.0\.0\.1:[0-9]*' "$dir/daemon.log" | grep -o '[0-9]*$')
if [ -z "$port" ]; then
  cat "$dir/daemon.log"
  echo "FAILED: jitgated did not get ready"
  exit 1
fi

# The allow-list: rows "| testssl.sh | `ID` | SEVERITY | FINDING | why |".
allowed=$(sed -n 's/^| testssl.sh | `\([^`]*\)` | \([A-Z]*\) | \([^|]*[^ |]\) | .*/\1 \2 \3/p' \
  "$src/docs/WINRM.md")
echo "allow-list from docs/WINRM.md:"
echo "${allowed:-  (empty)}"

# The checks that bear on the issues testssl.sh finds in a TLS setup:
# protocols, certificate and server defaults, the server's cipher order
# (which lists every suite offered per protocol), and the vulnerabilities a
# configuration can bring (Heartbleed, CCS, renegotiation, CRIME, BREACH,
# LUCKY13); those that need SSLv3, TLS 1.0, export, RC4 or 3DES suites
# (POODLE, BEAST, FREAK, LOGJAM, SWEET32, DROWN) are answered by the protocol
# and suite lists. No DNS on loopback (--nodns min: CAA records are not
# looked up); the system's openssl; --fast is deprecated in 3.0. Its pauses
# between socket writes and reads are for networks, not loopback: the
# tuning variables it documents make them short, and its wait for an HTTP
# answer on a kept-alive connection is 2 s rather than 5.
start=$(date +%s%N)
(cd "$dir" && USLEEP_SND=0.01 USLEEP_REC=0.01 HEADER_MAXSLEEP=2 timeout 600 testssl \
  --quiet --color 0 --warnings off --nodns min --openssl /usr/bin/openssl \
  --connect-timeout 10 --openssl-timeout 10 \
  --protocols --server-defaults --server-preference \
  --heartbleed --ccs-injection --renegotiation --crime --breach --lucky13 \
  --jsonfile "$dir/testssl.json" "https://127.0.0.1:$port") >"$dir/testssl.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
cat "$dir/testssl.out"
echo "testssl.sh exited $rc after $ms ms"
[ -s "$dir/testssl.json" ] || { say_fail "testssl.sh wrote no JSON"; exit 1; }

# One line "ID SEVERITY FINDING" per finding above OK and INFO.
/usr/bin/python3 - "$dir/testssl.json" >"$dir/findings" <<'EOF' || say_fail "cannot read testssl.sh's JSON"
import json, sys
for f in json.load(open(sys.argv[1])):
    if f.get("severity") not in ("OK", "INFO", "DEBUG"):
        print("%s %s %s" % (f["id"], f["severity"], " ".join(f.get("finding", "").split())))
EOF
# What the scan must have seen, so that a scan that saw nothing cannot pass:
# TLS 1.2 and 1.3 only, the server's order, AEAD suites only (ECDHE in 1.2).
/usr/bin/python3 - "$dir/testssl.json" <<'EOF' || fail=1
import json, sys
found = {f["id"]: f for f in json.load(open(sys.argv[1]))}
bad = []
def want(id, test, what):
    f = found.get(id)
    if f is None or not test(f.get("finding", "")):
        bad.append("%s: %s (got %r)" % (id, what, f and f.get("finding")))
want("TLS1_2", lambda v: v.startswith("offered"), "offered")
want("TLS1_3", lambda v: v.startswith("offered"), "offered")
for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
    want(old, lambda v: v.startswith("not offered"), "not offered")
want("cipher_order", lambda v: v == "server", "the server's order")
aead12 = lambda v: bool(v.split()) and all(
    s.startswith("ECDHE-") and ("GCM" in s or "CHACHA20" in s) for s in v.split())
want("cipherorder_TLSv1_2", aead12, "ECDHE with AES-GCM or ChaCha20-Poly1305 only")
want("cipherorder_TLSv1_3", lambda v: bool(v.split()), "suites listed")
want("LUCKY13", lambda v: v.startswith("not vulnerable"), "not vulnerable")
want("cert_validityPeriod", lambda v: v == "No finding", "no finding (at most 825 days)")
print("testssl.sh saw: TLS 1.2 suites %s; TLS 1.3 suites %s; certificate until %s; scan %s s" % (
    found.get("cipherorder_TLSv1_2", {}).get("finding"),
    found.get("cipherorder_TLSv1_3", {}).get("finding"),
    found.get("cert_notAfter", {}).get("finding"), found.get("scanTime", {}).get("finding")))
for b in bad:
    print("FAILED: " + b)
sys.exit(1 if bad else 0)
EOF
while IFS= read -r f; do
  [ -n "$f" ] || continue
  if grep -qxF -- "$f" <<<"$allowed"; then
    echo "allowed: $f"
  else
    say_fail "not on the allow-list in docs/WINRM.md: $f"
  fi
done <"$dir/findings"
while IFS= read -r f; do # (WARN: a check it could not do, which may or may not happen)
  [ -n "$f" ] || continue
  read -r _ severity _ <<<"$f"
  [ "$severity" = WARN ] && continue
  grep -qxF -- "$f" "$dir/findings" || say_fail "allowed in docs/WINRM.md but no longer reported (remove it): $f"
done <<<"$allowed"

[ "$fail" = 0 ] && echo "testssl_test: all clean but the explained allow-list"
exit $fail
