#!/usr/bin/python3
"""Runs one command with the real pywinrm client (winrm.protocol.Protocol,
which keeps the endpoint's path, e.g. /vm1/wsman) and prints its output.
Exit 0 with the command's stdout; 1 with the error on stderr."""
import argparse
import sys

from winrm.protocol import Protocol

p = argparse.ArgumentParser()
p.add_argument("--endpoint", required=True)
p.add_argument("--transport", default="plaintext")
p.add_argument("--user", default="")
p.add_argument("--password", default="")
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--ca")
p.add_argument("--command", default="echo hello")
p.add_argument("--arg", action="append", default=[], help="an argument (repeatable)")
p.add_argument("--repeat", type=int, default=1)
a = p.parse_args()
kw = dict(endpoint=a.endpoint, transport=a.transport, username=a.user, password=a.password,
          read_timeout_sec=90, operation_timeout_sec=80)
if a.transport == "ntlm":
    kw["message_encryption"] = "never"
if a.cert:
    kw["cert_pem"], kw["cert_key_pem"] = a.cert, a.key
if a.ca:
    kw["ca_trust_path"] = a.ca
    kw["server_cert_validation"] = "validate"
try:
    proto = Protocol(**kw)
    for _ in range(a.repeat):
        shell = proto.open_shell()
        cmd = proto.run_command(shell, a.command, a.arg)
        out, err, code = proto.get_command_output(shell, cmd)
        proto.cleanup_command(shell, cmd)
        proto.close_shell(shell)
        sys.stdout.write(out.decode())
    sys.exit(code)
except Exception as e:  # the test reads the reason
    sys.stderr.write("%s: %s\n" % (type(e).__name__, e))
    sys.exit(1)
