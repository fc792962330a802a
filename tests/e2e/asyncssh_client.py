#!/usr/bin/python3
"""asyncssh (Debian's python3-asyncssh) through the bastion, for its tests.

usage: asyncssh_client.py PORT KEYFILE USER MODE
modes: exec COMMAND   run COMMAND (exec with want-reply), print the exit
                      status, stdout and stderr as JSON
       agent          ask for agent forwarding (of the agent at SSH_AUTH_SOCK)
                      on a session channel, run 'true', print what came back
Every step has a timeout: a request the bastion never answers is a failure
(exit 3, "timeout: ..."), not a hang.
"""
import asyncio
import json
import os
import sys

import asyncssh


async def main():
    port, keyfile, user, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    options = dict(
        username=user,
        client_keys=[keyfile],
        known_hosts=None,
        agent_path=None,
        login_timeout=10,
    )
    if mode == "agent":  # the agent at SSH_AUTH_SOCK, offered to the far end
        options["agent_path"] = os.environ["SSH_AUTH_SOCK"]
        options["agent_forwarding"] = True
    async with asyncssh.connect("127.0.0.1", port, **options) as conn:
        command = sys.argv[5] if mode == "exec" else "true"
        result = await asyncio.wait_for(conn.run(command, check=False), timeout=15)
        print(
            json.dumps(
                {
                    "exit_status": result.exit_status,
                    "stdout": result.stdout,
                    "stderr": result.stderr,
                }
            )
        )


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except asyncio.TimeoutError:
        print("timeout: no answer within 15 s")
        sys.exit(3)
    except (OSError, asyncssh.Error) as e:
        print("error: %s: %s" % (type(e).__name__, e))
        sys.exit(2)
