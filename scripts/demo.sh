#!/usr/bin/env bash
# The first thing a newcomer runs. Installs what is missing, builds and
# installs jitgated, jitctl and pam_jitgate under /usr/local, and runs the
# real thing on this machine:
#   - jitgated on its built-in defaults (store in /var/lib/jitgate, control
#     socket /run/jitgate/control.sock), its fronts on loopback only
#     (SSH 127.0.0.1:2222, WinRM 127.0.0.1:5985/5986) unless --listen says
#     otherwise;
#   - a demo target: a real sshd on 127.0.0.1:2200 that trusts only
#     jitgate's CA and runs pam_jitgate (the lines docs/PAM.md gives), with a
#     Unix user "jitgate-demo";
#   - a refusal, a grant, a command through the bastion, and a live session
#     cut when its window ends, on the bastion and on the target.
# jitgated then keeps running in the foreground for you to try more; Ctrl-C
# stops it and the demo sshd. Run as root.
#
#   ./scripts/demo.sh                 the demo, on loopback
#   ./scripts/demo.sh --listen 0.0.0.0   the fronts on every interface
#   ./scripts/demo.sh --clean         removes what the demo left behind
#
# For tests (tests/e2e/demo_test.sh) and the curious:
#   --bin DIR      use jitgated, jitctl, pam_jitgate.so and jitgate-cutoff from
#                  a build tree instead of building and installing them
#   --state DIR    everything the demo writes goes under DIR (own jitgated
#                  state dir and control socket, target sshd files)
#   --any-port     every listener (metrics too) on a port the kernel picks
#   --window SECS  the length of the window that is cut (40)
#   --user NAME    the demo's Unix user (jitgate-demo)
#   --no-wait      stop everything after the demo instead of staying up
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}

listen=127.0.0.1 bin="" demo=/var/lib/jitgate-demo any_port=0 window=40 user=jitgate-demo
wait_at_end=1 clean=0 own_state=0
while [ $# -gt 0 ]; do
  case "$1" in
    --listen) listen=${2:?--listen needs an address}; shift 2 ;;
    --bin) bin=$(cd "${2:?--bin needs a directory}" && pwd); shift 2 ;;
    --state) demo=${2:?--state needs a directory}; own_state=1; shift 2 ;;
    --any-port) any_port=1; shift ;;
    --window) window=${2:?--window needs seconds}; shift 2 ;;
    --user) user=${2:?--user needs a name}; shift 2 ;;
    --no-wait) wait_at_end=0; shift ;;
    --clean) clean=1; shift ;;
    -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$window" in '' | *[!0-9]*) echo "demo.sh: --window takes whole seconds" >&2; exit 2 ;; esac
case "$user" in '' | *[!a-z0-9-]*) echo "demo.sh: --user takes [a-z0-9-]" >&2; exit 2 ;; esac

pam_service="sshd-$user"
pam_file="/etc/pam.d/$pam_service"

if [ "$clean" = 1 ]; then
  # Everything the demo may have made, and nothing else.
  echo "== removing what ./scripts/demo.sh left on this machine"
  for pidfile in "$demo/jitgated.pid" "$demo/sshd.pid"; do
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "the demo is still running (pid $(cat "$pidfile")): stop it first (Ctrl-C in its terminal)" >&2
      exit 1
    fi
  done
  [ -f "$pam_file" ] && { rm -f "$pam_file"; echo "removed $pam_file"; }
  if id "$user" >/dev/null 2>&1; then
    userdel -r "$user" 2>/dev/null || userdel "$user"
    echo "removed the Unix user $user and its home"
  fi
  if [ "$own_state" = 0 ]; then
    if [ -f "$demo/made-state" ]; then
      rm -rf /var/lib/jitgate /run/jitgate
      echo "removed jitgated's state /var/lib/jitgate and /run/jitgate (the demo made them)"
    elif [ -e /var/lib/jitgate ]; then
      echo "left /var/lib/jitgate alone: it was there before the demo first ran"
    fi
    if [ -f build/install_manifest.txt ]; then
      n=0
      while IFS= read -r f; do
        case "$f" in /usr/local/*) [ -e "$f" ] && { rm -f "$f"; n=$((n + 1)); } ;; esac
      done <build/install_manifest.txt
      echo "removed $n installed files listed in build/install_manifest.txt"
    fi
  fi
  [ -e "$demo" ] && { rm -rf "$demo"; echo "removed $demo"; }
  echo "left alone: Debian packages the demo installed (listed by scripts/setup-deps.sh) and build/"
  exit 0
fi

if [ -z "$bin" ]; then
  bash scripts/setup-deps.sh
  echo "== building jitgated, jitctl, pam_jitgate (a few minutes on a fresh machine)"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$jobs" --target jitgated jitctl pam_jitgate jitgate-cutoff
  cmake --install build --prefix /usr/local >/dev/null
  jitgated_bin=/usr/local/sbin/jitgated jitctl_bin=/usr/local/bin/jitctl
  pam_module=/usr/local/lib/security/pam_jitgate.so cutoff=/usr/local/libexec/jitgate-cutoff
else
  jitgated_bin=$bin/proxy/jitgated jitctl_bin=$bin/policy/jitctl
  pam_module=$bin/pam/pam_jitgate.so cutoff=$bin/pam/jitgate-cutoff
fi
for f in "$jitgated_bin" "$jitctl_bin" "$pam_module" "$cutoff"; do
  [ -e "$f" ] || { echo "demo.sh: $f is missing" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ "$any_port" = 1 ]; then
  ssh_listen="$listen:0" http_listen="$listen:0" https_listen="$listen:0" target_port=$(free_port)
  metrics_listen="127.0.0.1:0"
else
  ssh_listen="$listen:2222" http_listen="$listen:5985" https_listen="$listen:5986" target_port=2200
  metrics_listen="127.0.0.1:9620"
fi

if [ "$own_state" = 0 ] && [ ! -e /var/lib/jitgate ] && [ ! -e "$demo/made-state" ]; then
  made_state=1
else
  made_state=0
fi
mkdir -p "$demo" /run/sshd
chmod 700 "$demo"
[ "$made_state" = 1 ] && : >"$demo/made-state"
daemon_args=(--ssh-listen "$ssh_listen" --winrm-http-listen "$http_listen"
  --winrm-https-listen "$https_listen" --metrics-listen "$metrics_listen")
jitctl=("$jitctl_bin")
socket=/run/jitgate/control.sock
if [ "$own_state" = 1 ]; then
  socket="$demo/control.sock"
  daemon_args+=(--state-dir "$demo/state" --control-socket "$socket")
  jitctl+=(--socket "$socket")
fi
log="$demo/jitgated.log"
sshd_pid="" jitgated_pid="" pam_made=0
cleanup() {
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  [ -n "$jitgated_pid" ] && kill "$jitgated_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "$pam_made" = 1 ] && rm -f "$pam_file"
  rm -f "$demo/jitgated.pid"
}
trap cleanup EXIT INT TERM

echo "== starting jitgated (log: $log)"
: >"$log"
"$jitgated_bin" "${daemon_args[@]}" >>"$log" 2>&1 &
jitgated_pid=$!
echo "$jitgated_pid" >"$demo/jitgated.pid"
for _ in $(seq 100); do
  grep -q "jitgated ready" "$log" 2>/dev/null && break
  kill -0 "$jitgated_pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
grep "jitgated ready" "$log" || { cat "$log"; exit 1; }
bastion_port=$(sed -n 's/.*ssh [][0-9a-f.:]*:\([0-9][0-9]*\).*/\1/p' "$log" | head -1)
if [ "$listen" = 127.0.0.1 ]; then
  echo "   its fronts listen on 127.0.0.1 only; ./scripts/demo.sh --listen 0.0.0.0 opens them to the network"
fi

echo "== demo target: a real sshd on 127.0.0.1:$target_port trusting only jitgate's CA, with pam_jitgate"
id "$user" >/dev/null 2>&1 || { useradd -m -s /bin/bash "$user"; usermod -p '*' "$user"; }
[ -f "$demo/host_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$demo/host_ed25519"
[ -f "$demo/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "$user demo key" -f "$demo/id_ed25519"
"${jitctl[@]}" ca export --ssh >"$demo/trusted_user_ca_keys"
"${jitctl[@]}" ca krl -o "$demo/revoked.krl"
chmod 644 "$demo/trusted_user_ca_keys" "$demo/revoked.krl"
# The lines of docs/PAM.md, in a PAM service of the demo's own: sshd's PAM
# service is its argv[0]'s name, so a symlink keeps /etc/pam.d/sshd untouched.
if [ ! -f "$pam_file" ] || grep -q "written by jitgate's demo.sh" "$pam_file"; then
  cat >"$pam_file" <<EOF
# written by jitgate's demo.sh for its demo target; ./scripts/demo.sh --clean removes it
account  required  $pam_module ca=$demo/trusted_user_ca_keys krl=$demo/revoked.krl target=demo account=defer
session  required  $pam_module ca=$demo/trusted_user_ca_keys krl=$demo/revoked.krl target=demo cutoff=$cutoff grace=2
EOF
  pam_made=1
else
  echo "demo.sh: $pam_file exists and is not the demo's; not touching it" >&2
  exit 1
fi
cat >"$demo/sshd_config" <<EOF
ListenAddress 127.0.0.1:$target_port
HostKey $demo/host_ed25519
PidFile $demo/sshd.pid
TrustedUserCAKeys $demo/trusted_user_ca_keys
RevokedKeys $demo/revoked.krl
AuthorizedPrincipalsCommand /usr/bin/echo %u@demo
AuthorizedPrincipalsCommandUser nobody
AuthorizedKeysFile none
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
Subsystem sftp internal-sftp
EOF
ln -sf /usr/sbin/sshd "$demo/$pam_service"
"$demo/$pam_service" -f "$demo/sshd_config" -D -e 2>"$demo/sshd.log" &
sshd_pid=$!
for _ in $(seq 50); do
  grep -q "Server listening" "$demo/sshd.log" 2>/dev/null && break
  kill -0 "$sshd_pid" 2>/dev/null || { cat "$demo/sshd.log"; exit 1; }
  sleep 0.1
done

echo "== enrolling it"
"${jitctl[@]}" target list | grep -q "^demo " ||
  "${jitctl[@]}" target add demo --address 127.0.0.1 --os linux --ssh-port "$target_port"
"${jitctl[@]}" policy enable demo --port "$target_port" --from 127.0.0.0/8 --max 1h >/dev/null
"${jitctl[@]}" user list | grep -q "^$user " ||
  "${jitctl[@]}" user add "$user" --key "$demo/id_ed25519.pub"

ssh_demo() {
  ssh -F /dev/null -i "$demo/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="$demo/known_hosts" \
    -p "$bastion_port" "$user@demo@127.0.0.1" "$@"
}

echo "== without a grant the bastion refuses:"
ssh_demo true || true

echo "== a ${window}-second grant, then a command through the bastion:"
grant=$("${jitctl[@]}" grant "$user" demo --port "$target_port" --from 127.0.0.1 \
  --for "${window}s" --justification "demo")
echo "grant $grant"
ssh_demo 'echo "on $(hostname) as $(whoami)"'

echo "== a live session, cut when the window ends:"
ssh_demo 'while true; do date +%T; sleep 5; done' || true

# The bastion cut its side; pam_jitgate's watchdog on the target ends what the
# session left running there (SIGTERM, then SIGKILL after grace=2 s).
echo "== and on the target:"
gone=0
for _ in $(seq 100); do
  if ! pgrep -u "$user" >/dev/null; then gone=1; break; fi
  sleep 0.1
done
if [ "$gone" = 1 ]; then
  echo "no process of $user is left on the demo target: pam_jitgate ended the session there too"
else
  echo "demo.sh: processes of $user still run on the target after the window:" >&2
  ps -o pid,ppid,etime,cmd -u "$user" >&2
  exit 1
fi

echo "== the audit log:"
"${jitctl[@]}" audit --since 10m

if [ "$wait_at_end" = 0 ]; then exit 0; fi
sock_hint=""
[ "$own_state" = 1 ] && sock_hint=" --socket $socket"
cat <<MSG

jitgated keeps running (SSH front on $listen:$bastion_port, control socket
$socket). In another terminal, as root:

  jitctl$sock_hint grant $user demo --port $target_port --from 127.0.0.1 --for 10m
  ssh -i $demo/id_ed25519 -p $bastion_port $user@demo@127.0.0.1      # a shell on the target
  jitctl$sock_hint revoke g-...                                        # and it is cut
  jitctl$sock_hint audit --csv

Ctrl-C stops jitgated and the demo sshd (and removes $pam_file).
Afterwards ./scripts/demo.sh --clean removes the demo user, $demo,
jitgated's state (/var/lib/jitgate, /run/jitgate, if the demo made them)
and the files installed under /usr/local.
MSG
wait "$jitgated_pid"
