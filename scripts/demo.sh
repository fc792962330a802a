#!/usr/bin/env bash
# Installs what is missing, builds and installs jitgated, jitctl and
# pam_jitgate under /usr/local, and runs the real thing on this machine:
#   - jitgated on its built-in defaults (store in /var/lib/jitgate, control
#     socket /run/jitgate/control.sock, SSH front on port 2222);
#   - a demo target: a real sshd on 127.0.0.1:2200 that trusts only jitgate's
#     CA, with a Unix user "jitgate-demo";
#   - a grant, a command through the bastion, and a live session cut when its
#     window ends.
# jitgated then keeps running in the foreground for you to try more; Ctrl-C
# stops it and the demo sshd. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}

bash scripts/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" --target jitgated jitctl pam_jitgate jitgate-cutoff
cmake --install build --prefix /usr/local >/dev/null

demo=/var/lib/jitgate-demo
user=jitgate-demo
mkdir -p "$demo" /run/sshd
chmod 700 "$demo"
log="$demo/jitgated.log"
sshd_pid="" jitgated_pid=""
cleanup() {
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  [ -n "$jitgated_pid" ] && kill "$jitgated_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== starting jitgated (log: $log)"
/usr/local/sbin/jitgated >"$log" 2>&1 &
jitgated_pid=$!
for _ in $(seq 100); do
  grep -q "jitgated ready" "$log" 2>/dev/null && break
  kill -0 "$jitgated_pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
grep "jitgated ready" "$log"
bastion_port=$(sed -n 's/.*ssh [0-9.]*:\([0-9]*\).*/\1/p' "$log" | head -1)

echo "== demo target: a real sshd on 127.0.0.1:2200 trusting only jitgate's CA"
id "$user" >/dev/null 2>&1 || { useradd -m -s /bin/bash "$user"; usermod -p '*' "$user"; }
[ -f "$demo/host_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$demo/host_ed25519"
[ -f "$demo/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "$user demo key" -f "$demo/id_ed25519"
jitctl ca export --ssh >"$demo/trusted_user_ca_keys"
cat >"$demo/sshd_config" <<EOF
ListenAddress 127.0.0.1:2200
HostKey $demo/host_ed25519
PidFile $demo/sshd.pid
TrustedUserCAKeys $demo/trusted_user_ca_keys
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -f "$demo/sshd_config" -D -e 2>"$demo/sshd.log" &
sshd_pid=$!
sleep 0.5

echo "== enrolling it"
jitctl target list | grep -q "^demo " ||
  jitctl target add demo --address 127.0.0.1 --os linux --ssh-port 2200
jitctl policy enable demo --port 2200 --from 127.0.0.0/8 --max 1h >/dev/null
jitctl user list | grep -q "^$user " || jitctl user add "$user" --key "$demo/id_ed25519.pub"

ssh_demo() {
  ssh -F /dev/null -i "$demo/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="$demo/known_hosts" \
    -p "$bastion_port" "$user@demo@127.0.0.1" "$@"
}

echo "== without a grant the bastion refuses:"
ssh_demo true || true

echo "== a 40-second grant, then a command through the bastion:"
grant=$(jitctl grant "$user" demo --port 2200 --from 127.0.0.1 --for 40s --justification "demo")
echo "grant $grant"
ssh_demo 'echo "on $(hostname) as $(whoami)"'

echo "== a live session, cut when the window ends:"
ssh_demo 'while true; do date +%T; sleep 5; done' || true

echo "== the audit log:"
jitctl audit --since 10m

cat <<MSG

jitgated keeps running (SSH front on port $bastion_port, control socket
/run/jitgate/control.sock). In another terminal, as root:

  jitctl grant $user demo --port 2200 --from 127.0.0.1 --for 10m
  ssh -i $demo/id_ed25519 -p $bastion_port $user@demo@127.0.0.1      # a shell on the target
  jitctl revoke g-...                                                  # and it is cut
  jitctl audit --csv

Ctrl-C stops jitgated and the demo sshd.
MSG
wait "$jitgated_pid"
