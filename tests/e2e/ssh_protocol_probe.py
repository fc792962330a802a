#!/usr/bin/python3
"""A misbehaving SSH client for the bastion's tests (paramiko): it sends what
the OpenSSH client never would, and prints one line saying what happened.

usage: ssh_protocol_probe.py PORT KEYFILE MODE [USER]
modes: userauth-success   send USERAUTH_SUCCESS itself, then ask for a channel
       channel-before-auth  open a session channel without authenticating
       login USER          authenticate as USER (any bytes, \\xNN escapes allowed)
       x11 USER            authenticate, open a session, ask for X11 forwarding
"""
import socket
import sys
import time

import paramiko
from paramiko.common import cMSG_USERAUTH_SUCCESS
from paramiko.message import Message


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = paramiko.Transport(sock)
    t.start_client(timeout=10)
    return t


def closed_within(t, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not t.is_active():
            return True
        time.sleep(0.05)
    return False


def main():
    port, keyfile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    user = sys.argv[4].encode().decode("unicode_escape") if len(sys.argv) > 4 else "nobody"
    key = paramiko.Ed25519Key.from_private_key_file(keyfile)
    t = connect(port)
    try:
        if mode == "userauth-success":
            m = Message()
            m.add_byte(cMSG_USERAUTH_SUCCESS)
            t._send_message(m)
            try:
                t.open_session(timeout=3)
                print("channel-opened")
            except Exception as e:  # noqa: BLE001 - any failure is the expected outcome
                print("disconnected" if closed_within(t, 3) else "refused-but-connected: %s" % e)
        elif mode == "channel-before-auth":
            try:
                t.open_session(timeout=3)
                print("channel-opened")
            except Exception as e:  # noqa: BLE001
                print("disconnected" if closed_within(t, 3) else "refused-but-connected: %s" % e)
        elif mode == "login":
            try:
                t.auth_publickey(user, key)
                print("authenticated")
            except Exception as e:  # noqa: BLE001
                print("refused: %s" % type(e).__name__)
        elif mode == "x11":
            t.auth_publickey(user, key)
            chan = t.open_session(timeout=5)
            try:
                chan.request_x11(single_connection=True, auth_protocol="MIT-MAGIC-COOKIE-1",
                                 auth_cookie="00" * 16)
                print("x11-accepted")
            except Exception:  # noqa: BLE001 - a refusal raises
                print("x11-refused")
        else:
            print("unknown mode")
            return 2
    finally:
        t.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
