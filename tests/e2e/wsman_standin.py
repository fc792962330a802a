#!/usr/bin/python3
"""A WS-Man STAND-IN for tests: not a WinRM server, only enough of one for
the real pywinrm client to run a command through jitgate's WinRM front.

It answers Create (a shell), Command, Receive, Signal and Delete, echoing
each MessageID as RelatesTo, and records every request that reaches it (one
JSON object per line in --record) so that tests can tell what got through.
It listens on 127.0.0.1 only.

Authentication, per --auth:
  basic        Basic credentials must be --user/--password.
  ntlm         NTLM: answers NEGOTIATE with a CHALLENGE, checks the NTLMv2
               response of AUTHENTICATE against --user/--password, and then
               trusts the TCP connection (as Windows does); requests on a
               connection that has not authenticated get 401. Needs MD4
               (OPENSSL_CONF with the legacy provider).
  certificate  HTTPS with a client certificate chaining to --client-ca, and
               the WS-Man https/mutual Authorization header.
  any          accepts anything (benchmarks).
Commands: "echo TEXT" prints TEXT; "longpoll" makes its first Receive wait
60 s (a long-poll the bastion must be able to cut); "bytes N" prints N bytes.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MUTUAL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
ACTION_RE = re.compile(rb"<(?:\w+:)?Action[^>]*>([^<]+)</")
MSGID_RE = re.compile(rb"<(?:\w+:)?MessageID[^>]*>([^<]+)</")
CMDID_RE = re.compile(rb'CommandId="([^"]+)"')
CMD_RE = re.compile(rb"<(?:\w+:)?Command>([^<]*)</")

ARGS = None
RECORD_LOCK = threading.Lock()
CONN_COUNTER = [0]
COMMANDS = {}  # command id -> command line


def record(entry):
    if not ARGS.record:
        return
    with RECORD_LOCK:
        with open(ARGS.record, "a") as f:
            f.write(json.dumps(entry) + "\n")


def av_pairs():
    def pair(t, v):
        return struct.pack("<HH", t, len(v)) + v
    name = "STANDIN".encode("utf-16-le")
    return pair(2, name) + pair(1, name) + pair(0, b"")


def ntlm_challenge(server_challenge):
    flags = 0x00000001 | 0x00000004 | 0x00000200 | 0x00080000 | 0x00800000 | 0x02000000 | 0x20000000
    target = "STANDIN".encode("utf-16-le")
    info = av_pairs()
    header_len = 56
    msg = b"NTLMSSP\x00" + struct.pack("<I", 2)
    msg += struct.pack("<HHI", len(target), len(target), header_len)
    msg += struct.pack("<I", flags) + server_challenge + b"\x00" * 8
    msg += struct.pack("<HHI", len(info), len(info), header_len + len(target))
    msg += b"\x06\x01\xb1\x1d\x00\x00\x00\x0f"
    return msg + target + info


def ntlm_field(msg, at):
    length, _, offset = struct.unpack_from("<HHI", msg, at)
    return msg[offset:offset + length]


def ntlm_check(msg, server_challenge):
    """Returns the user name when the NTLMv2 response is right, else None."""
    if len(msg) < 64 or msg[:8] != b"NTLMSSP\x00" or struct.unpack_from("<I", msg, 8)[0] != 3:
        return None
    nt = ntlm_field(msg, 20)
    domain = ntlm_field(msg, 28).decode("utf-16-le")
    user = ntlm_field(msg, 36).decode("utf-16-le")
    if len(nt) < 24:
        return None
    nt_hash = hashlib.new("md4", ARGS.password.encode("utf-16-le")).digest()
    owf = hmac.new(nt_hash, (user.upper() + domain).encode("utf-16-le"), "md5").digest()
    proof = hmac.new(owf, server_challenge + nt[16:], "md5").digest()
    if not hmac.compare_digest(proof, nt[:16]) or user != ARGS.user:
        return None
    return user


def envelope(relates_to, body, action):
    return ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
            'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
            'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
            '<s:Header><a:Action>%s</a:Action><a:MessageID>uuid:%s</a:MessageID>'
            '<a:RelatesTo>%s</a:RelatesTo></s:Header><s:Body>%s</s:Body></s:Envelope>'
            % (action, uuid.uuid4(), relates_to, body)).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wsman-standin"

    def setup(self):
        super().setup()
        CONN_COUNTER[0] += 1
        self.conn = CONN_COUNTER[0]
        self.authed = None
        self.challenge = None

    def log_message(self, fmt, *a):
        if ARGS.verbose:
            sys.stderr.write("standin: " + (fmt % a) + "\n")

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.end_headers()
        self.wfile.write(body)

    def peer_cn(self):
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def authenticate(self, auth):
        """Returns (user, None) or (None, (status, headers))."""
        mode = ARGS.auth
        if mode == "any":
            return "-", None
        if mode == "basic":
            if auth.startswith("Basic "):
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                if user == ARGS.user and pw == ARGS.password:
                    return user, None
            return None, (401, [("WWW-Authenticate", 'Basic realm="standin"')])
        if mode == "certificate":
            cn = self.peer_cn()
            if cn and auth == MUTUAL:
                return cn, None
            return None, (401, [])
        # ntlm
        scheme, _, token = auth.partition(" ")
        if scheme in ("NTLM", "Negotiate") and token:
            msg = base64.b64decode(token)
            kind = struct.unpack_from("<I", msg, 8)[0] if len(msg) >= 12 else 0
            if kind == 1:
                self.challenge = os.urandom(8)
                chal = base64.b64encode(ntlm_challenge(self.challenge)).decode()
                return None, (401, [("WWW-Authenticate", scheme + " " + chal)])
            if kind == 3 and self.challenge:
                user = ntlm_check(msg, self.challenge)
                self.challenge = None
                if user:
                    self.authed = user
                    return user, None
            return None, (401, [("WWW-Authenticate", "NTLM")])
        if self.authed:
            return self.authed, None
        return None, (401, [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        action = ACTION_RE.search(body)
        action = action.group(1).decode().rsplit("/", 1)[-1] if action else ""
        user, refusal = self.authenticate(auth)
        record({"conn": self.conn, "path": self.path, "host": self.headers.get("Host"),
                "auth": auth.split(" ")[0][:40], "user": user, "action": action,
                "body_len": len(body), "client_cn": self.peer_cn(),
                "headers": sorted(k.lower() for k in self.headers.keys()),
                "status": refusal[0] if refusal else 200, "time": time.time()})
        if refusal:
            return self.reply(refusal[0], b"", refusal[1])
        msgid = MSGID_RE.search(body)
        relates = msgid.group(1).decode() if msgid else "uuid:" + str(uuid.uuid4())
        if action == "Create":
            out = ('<rsp:Shell><rsp:ShellId>%s</rsp:ShellId></rsp:Shell>'
                   '<x:ResourceCreated><w:SelectorSet><w:Selector Name="ShellId">%s'
                   '</w:Selector></w:SelectorSet></x:ResourceCreated>') % ((str(uuid.uuid4()).upper(),) * 2)
        elif action == "Command":
            cmd = CMD_RE.search(body)
            cid = str(uuid.uuid4()).upper()
            COMMANDS[cid] = cmd.group(1).decode() if cmd else ""
            out = "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>" % cid
        elif action == "Receive":
            m = CMDID_RE.search(body)
            cid = m.group(1).decode() if m else ""
            cmd = COMMANDS.pop(cid, "")
            if cmd == "longpoll":
                time.sleep(60)
            if cmd.startswith("echo "):
                data = (cmd[5:] + "\r\n").encode()
            elif cmd.startswith("bytes "):
                data = b"x" * int(cmd[6:])
            else:
                data = b""
            out = ('<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="%s">%s</rsp:Stream>'
                   '<rsp:Stream Name="stdout" CommandId="%s" End="true"></rsp:Stream>'
                   '<rsp:CommandState CommandId="%s" State="http://schemas.microsoft.com/wbem/wsman/1/'
                   'windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>'
                   '</rsp:ReceiveResponse>') % (cid, base64.b64encode(data).decode(), cid, cid)
        elif action == "Signal":
            out = "<rsp:SignalResponse/>"
        elif action == "Delete":
            out = ""
        else:
            out = "<rsp:Unknown/>"
        self.reply(200, envelope(relates, out, action + "Response"))


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port-file", required=True, help="the picked port is written here")
    p.add_argument("--record")
    p.add_argument("--auth", choices=["basic", "ntlm", "certificate", "any"], default="basic")
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="pw")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--client-ca")
    p.add_argument("--verbose", action="store_true")
    ARGS = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if ARGS.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        if ARGS.client_ca:
            ctx.load_verify_locations(ARGS.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED if ARGS.auth == "certificate" else ssl.CERT_OPTIONAL
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
