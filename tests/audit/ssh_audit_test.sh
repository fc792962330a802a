#!/usr/bin/env bash
# ssh-audit (Debian's, 2.5) on both SSH sides of a real jitgated on loopback:
# the front as a server audit, the hop towards a target as a client audit
# (ssh-audit -c playing the target). Every [fail] and [warn] must be on the
# allow-list in docs/SSH.md ("Scanners"), each with its reason, and every
# entry there must still be reported. Then the OpenSSH client and paramiko,
# each with its defaults, negotiate with the front (what they pick is shown).
# Usage: ssh_audit_test.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1 build=$2
jitgated=$build/proxy/jitgated jitctl=$build/policy/jitctl
if ! command -v ssh-audit >/dev/null; then
  echo "FAILED: ssh-audit is not installed (scripts/setup-deps.sh installs it)"
  exit 1
fi
dir=$(mktemp -d /tmp/jgsshaudit.XXXXXX)
daemon="" client=""
finish() {
  [ -z "$client" ] || { kill "$client" 2>/dev/null; wait "$client" 2>/dev/null; }
  [ -z "$daemon" ] || { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
  rm -rf "$dir"
}
trap finish EXIT
fail=0
say_fail() { echo "FAILED: $*"; fail=1; }

"$jitgated" --state-dir "$dir/state" --control-socket "$dir/c.sock" \
  --ssh-listen 127.0.0.1:0 --winrm-http-listen off --winrm-https-listen off \
  --metrics-listen off >"$dir/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
  grep -q "jitgated ready" "$dir/daemon.log" && break
  sleep 0.1
done
port=$(grep -o 'jitgated ready: .*ssh 127\.0\.0\.1:[0-9]*' "$dir/daemon.log" | grep -o '[0-9]*$')
if [ -z "$port" ]; then
  cat "$dir/daemon.log"
  echo "FAILED: jitgated did not get ready"
  exit 1
fi

# The allow-list: rows "| ssh-audit | SIDE | `ALG` | LEVEL | FINDING | why |".
allowed=$(sed -n 's/^| ssh-audit | \([a-z]*\) | `\([^`]*\)` | \([a-z]*\) | \([^|]*[^ |]\) | .*/\1 \2 \3 \4/p' \
  "$src/docs/SSH.md")
echo "allow-list from docs/SSH.md:"
echo "${allowed:-  (empty)}"

# findings SIDE FILE: one line "SIDE ALG LEVEL FINDING" per [fail]/[warn],
# continuation lines ("`- [warn] ...") belonging to the algorithm above them.
findings() {
  awk -v side="$1" '
    /^\((kex|key|enc|mac|gen|cmp)\) / { alg = $2 }
    /-- \[(fail|warn)\] / || /`- \[(fail|warn)\] / {
      line = $0
      sub(/.*\[/, "", line)
      level = substr(line, 1, 4)
      sub(/^[a-z]*\] /, "", line)
      print side " " alg " " level " " line
    }' "$2"
}

check_side() { # check_side SIDE OUTPUT-FILE
  local side=$1 out=$2 f seen
  findings "$side" "$out" >"$dir/$side.findings"
  while IFS= read -r f; do
    if grep -qxF -- "$f" <<<"$allowed"; then
      echo "allowed: $f"
    else
      say_fail "not on the allow-list in docs/SSH.md: $f"
    fi
  done <"$dir/$side.findings"
  while IFS= read -r f; do
    [ -n "$f" ] && [ "${f%% *}" = "$side" ] || continue
    grep -qxF -- "$f" "$dir/$side.findings" || say_fail "allowed in docs/SSH.md but no longer reported (remove it): $f"
  done <<<"$allowed"
  # The recommendations section names what to remove or add: none allowed.
  if grep -E '^\(rec\) ' "$out"; then say_fail "$side: ssh-audit recommends changes"; fi
}

# --- the front, as a server -----------------------------------------------
start=$(date +%s%N)
timeout 120 ssh-audit -n -t 10 "127.0.0.1:$port" >"$dir/front.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
cat "$dir/front.out"
echo "ssh-audit (front) exited $rc after $ms ms"
grep -q '^(kex) curve25519-sha256 ' "$dir/front.out" || say_fail "front: no key exchange list in the output"
grep -q '^(enc) aes256-gcm@openssh.com ' "$dir/front.out" || say_fail "front: no cipher list in the output"
grep -q '^(mac) hmac-sha2-256-etm@openssh.com ' "$dir/front.out" || say_fail "front: no MAC list in the output"
grep -q '^(enc) aes192-ctr ' "$dir/front.out" && say_fail "front: aes192-ctr is offered (docs/SSH.md does not list it)"
check_side front "$dir/front.out"

# --- the hop, as a client: ssh-audit -c plays the target -------------------
hop_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$src/tests/audit/ssh_audit_loopback.py" -n -c -p "$hop_port" -t 30 >"$dir/hop.out" 2>&1 &
client=$!
ssh-keygen -q -t ed25519 -N "" -f "$dir/id" || say_fail "ssh-keygen"
ctl() { "$jitctl" --socket "$dir/c.sock" "$@" >>"$dir/jitctl.log" 2>&1 || say_fail "jitctl $*: $(tail -1 "$dir/jitctl.log")"; }
ctl target add audited --address 127.0.0.1 --os linux --ssh-port "$hop_port"
ctl policy enable audited --port "$hop_port"
ctl user add auditor --key "$dir/id.pub"
ctl grant auditor audited --port "$hop_port" --from 127.0.0.1 --for 10m
for _ in $(seq 100); do # a connection would be the one it audits: look, do not knock
  ss -Hltn "sport = :$hop_port" | grep -q . && break
  sleep 0.1
done
timeout 60 ssh -F none -i "$dir/id" -o IdentitiesOnly=yes -o BatchMode=yes \
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 \
  -p "$port" auditor@audited@127.0.0.1 true >"$dir/hop-ssh.out" 2>&1
wait "$client"
rc=$?
client=""
cat "$dir/hop.out"
echo "ssh-audit -c (hop) exited $rc; the user's ssh said: $(tail -1 "$dir/hop-ssh.out")"
grep -q '^(kex) curve25519-sha256 ' "$dir/hop.out" || say_fail "hop: no key exchange list in the output"
grep -q '^(enc) aes256-gcm@openssh.com ' "$dir/hop.out" || say_fail "hop: no cipher list in the output"
grep -q '^(enc) aes192-ctr ' "$dir/hop.out" && say_fail "hop: aes192-ctr is offered"
check_side hop "$dir/hop.out"

# --- everyday clients still agree with the front ---------------------------
ssh -v -F none -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o ConnectTimeout=10 -p "$port" nobody@127.0.0.1 true >"$dir/openssh.out" 2>&1
if grep -q 'Authentications that can continue: publickey' "$dir/openssh.out"; then
  echo "ok: OpenSSH with its defaults: $(grep -o 'kex: algorithm: .*' "$dir/openssh.out"), $(grep -o 'kex: server->client cipher: .*' "$dir/openssh.out")"
else
  tail -5 "$dir/openssh.out"
  say_fail "the OpenSSH client with its defaults did not reach authentication"
fi
if out=$(/usr/bin/python3 - "$port" <<'EOF' 2>&1
import socket, sys
import paramiko
t = paramiko.Transport(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10))
t.start_client(timeout=10)
print("host key %s, cipher %s, mac %s" % (t.get_remote_server_key().get_name(), t.local_cipher, t.local_mac))
t.close()
EOF
); then
  echo "ok: paramiko with its defaults: $out"
else
  echo "$out"
  say_fail "paramiko with its defaults did not negotiate with the front"
fi

[ "$fail" = 0 ] && echo "ssh_audit_test: all clean but the explained allow-list"
exit $fail
