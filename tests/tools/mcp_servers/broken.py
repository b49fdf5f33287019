"""A server that never starts: it says why on stderr, then exits (or, with ``--hang``, never answers).

Not an MCP server at all: what a misconfigured one looks like to a client.
With ``BROKEN_TOKEN`` set, it also prints that token, as careless servers do.
"""

from __future__ import annotations

import os
import sys
import time

if __name__ == "__main__":
    if os.environ.get("MCP_TEST_PIDFILE"):
        with open(os.environ["MCP_TEST_PIDFILE"], "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
    sys.stderr.write("broken: starting up\n")
    if os.environ.get("BROKEN_TOKEN"):
        sys.stderr.write(f"broken: the token {os.environ['BROKEN_TOKEN']} was rejected\n")
    sys.stderr.write("broken: GITHUB_TOKEN is not set, cannot continue\n")
    sys.stderr.flush()
    if "--hang" in sys.argv:
        while True:
            time.sleep(3600)
    sys.exit(2)
