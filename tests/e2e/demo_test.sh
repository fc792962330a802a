#!/usr/bin/env bash
# The README's first command as a newcomer sees it, with short windows: runs
# scripts/demo.sh on a build tree (own state dir, a test user, ports the
# kernel picks, loopback) and checks what it shows: the refusal, the command
# through the bastion, the cut at the bastion, and that no process of the
# session is left on the pam_jitgate target afterwards. Then --clean.
# Usage: demo_test.sh SOURCE_DIR BUILD_DIR [sanitized]
set -uo pipefail
src=$1 build=$2
if [ "${3:-}" = sanitized ]; then
  echo "demo_test.sh: Skipped"
  echo "sanitizer build: sshd cannot load an instrumented pam_jitgate.so"
  exit 77
fi
if [ "$(id -u)" != 0 ]; then
  echo "demo_test.sh: Skipped"
  echo "needs root (creates a Unix user and /etc/pam.d/sshd-USER)"
  exit 77
fi
state=$(mktemp -d /tmp/jgdemo.XXXXXX)
user="jgdemo$$"
fail=0
check() { # check DESCRIPTION GREP-PATTERN
  if grep -qE -- "$2" "$state.out"; then
    echo "ok: $1"
  else
    echo "FAILED: $1 (no line matching '$2')"
    fail=1
  fi
}
finish() {
  "$src/scripts/demo.sh" --clean --state "$state" --user "$user" >/dev/null 2>&1
  pkill -KILL -u "$user" 2>/dev/null
  id "$user" >/dev/null 2>&1 && userdel -r "$user" >/dev/null 2>&1
  rm -rf "$state" "$state.out" "/etc/pam.d/sshd-$user"
}
trap finish EXIT

timeout 180 "$src/scripts/demo.sh" --bin "$build" --state "$state" --any-port --window 6 \
  --user "$user" --no-wait >"$state.out" 2>&1
rc=$?
cat "$state.out"
echo "---- demo.sh exited $rc"
[ "$rc" = 0 ] || fail=1
check "fronts on loopback only" "jitgated ready: .*ssh 127\.0\.0\.1:[0-9]+"
if grep -E "jitgated ready: .*(0\.0\.0\.0|\[::\]):" "$state.out"; then
  echo "FAILED: a front listens beyond loopback"
  fail=1
fi
check "refused without a grant" "jitgate: $user holds no active grant on demo"
check "a command through the bastion" "^on .* as $user$"
check "the live session is cut at the window's end" "jitgate: access to demo ended at .*\(window expired\)"
check "the demo says the target is clean" "no process of $user is left on the demo target"
check "the audit log shows the disconnect" "session\.disconnect"
if pgrep -u "$user" >/dev/null; then
  echo "FAILED: processes of $user still run:"
  ps -o pid,ppid,cmd -u "$user"
  fail=1
else
  echo "ok: no process of $user runs (checked by the test, not only by the demo)"
fi

"$src/scripts/demo.sh" --clean --state "$state" --user "$user" >"$state.out" 2>&1
cat "$state.out"
if id "$user" >/dev/null 2>&1 || [ -e "/etc/pam.d/sshd-$user" ] || [ -e "$state" ]; then
  echo "FAILED: --clean left the user, its PAM file or the state dir"
  fail=1
else
  echo "ok: --clean removed the user, its PAM file and the state dir"
fi
exit $fail
