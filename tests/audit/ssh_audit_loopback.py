#!/usr/bin/python3
"""Debian's ssh-audit, held to loopback: its client audit (-c) listens on
0.0.0.0 and [::] of the port it is given; tests listen on 127.0.0.1 only, so
this runs the same program with those two binds turned into 127.0.0.1.

usage: ssh_audit_loopback.py [ssh-audit arguments]
"""
import socket
import sys

_bind = socket.socket.bind


def loopback_bind(sock, address):
    if sock.family == socket.AF_INET6:
        raise OSError("ssh_audit_loopback.py: IPv4 loopback only")
    if sock.family == socket.AF_INET and address[0] in ("", "0.0.0.0"):
        address = ("127.0.0.1",) + tuple(address[1:])
    return _bind(sock, address)


socket.socket.bind = loopback_bind

from ssh_audit.ssh_audit import main  # noqa: E402

sys.exit(main())
