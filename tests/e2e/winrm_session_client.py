#!/usr/bin/python3
"""Runs one command with the real pywinrm client's winrm.Session (which
keeps no path but /wsman: /vm1/wsman becomes /) and prints its output. Exit 0 with the command's stdout; 1 with the error on stderr."""
import argparse
import sys

import winrm

p = argparse.ArgumentParser()
p.add_argument("--url", required=True)
p.add_argument("--transport", default="plaintext")
p.add_argument("--user", default="")
p.add_argument("--password", default="")
p.add_argument("--ca")
p.add_argument("--command", default="echo hello")
a = p.parse_args()
kw = dict(transport=a.transport, read_timeout_sec=90, operation_timeout_sec=80)
if a.transport == "ntlm":
    kw["message_encryption"] = "never"
if a.ca:
    kw["ca_trust_path"] = a.ca
    kw["server_cert_validation"] = "validate"
try:
    session = winrm.Session(a.url, auth=(a.user, a.password), **kw)
    sys.stderr.write("Session endpoint: %s\n" % session.url)
    r = session.run_cmd(a.command)
    sys.stdout.write(r.std_out.decode())
    sys.exit(r.status_code)
except Exception as e:  # the test reads the reason
    sys.stderr.write("%s: %s\n" % (type(e).__name__, e))
    sys.exit(1)
