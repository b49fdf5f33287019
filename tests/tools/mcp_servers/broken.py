"""A server that never starts: it says why on stderr, then exits (or, with ``--hang``, never answers).

Not an MCP server at all: what a misconfigured one looks like to a client.
"""

from __future__ import annotations

import sys
import time

if __name__ == "__main__":
    sys.stderr.write("broken: starting up\n")
    sys.stderr.write("broken: GITHUB_TOKEN is not set, cannot continue\n")
    sys.stderr.flush()
    if "--hang" in sys.argv:
        while True:
            time.sleep(3600)
    sys.exit(2)
