"""What an MCP toolkit connects to, as plain data: built from the ``tools`` section, or by hand in tests.

Nothing here imports the ``mcp`` SDK, so a config can be read and a source
described without it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from agentrt.config._tools import McpHttpSection, McpStdioSection

__all__ = ["HttpServer", "McpServerSpec", "RestartPolicy", "StdioServer"]

ProtocolMode = Literal["auto", "legacy"]
"""``auto``: the newest protocol the server speaks (``server/discover``, then the
``initialize`` handshake for older servers); ``legacy``: the handshake only."""


@dataclass(frozen=True, slots=True)
class StdioServer:
    """A server run as a subprocess: ``command`` with ``args``, ``env`` over the SDK's minimal safe environment."""

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Values are often secrets: never shown (``repr=False``) nor logged."""
    cwd: Path | None = None


@dataclass(frozen=True, slots=True)
class HttpServer:
    """A server reached over streamable HTTP at ``url``, with ``headers`` on every request."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Values are often secrets (``Authorization``): never shown nor logged."""

    @property
    def display_url(self) -> str:
        """The URL without credentials or query (either may hold a key): for status and errors."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How long to wait before restarting a server that died: exponential, capped, with equal jitter.

    The wait before restart *n* (1 for the first) is ``min(max_backoff,
    backoff * 2 ** (n - 1))``, of which half is fixed and half random, as in
    :class:`agentrt.resilience.RetryPolicy`: servers that died together do not
    come back in lockstep, and none is restarted in a tight loop.
    """

    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.backoff < 0 or self.max_backoff < self.backoff:
            raise ValueError(
                f"restart backoff must be 0 or more and max_backoff at least backoff "
                f"(got backoff={self.backoff}, max_backoff={self.max_backoff})"
            )

    def delay(self, restart: int) -> float:
        """Seconds to wait before restart number ``restart`` (1-based)."""
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** max(restart - 1, 0))
        if not self.jitter:
            return ceiling
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class McpServerSpec:
    """One MCP toolkit's server and how it is kept running."""

    server: StdioServer | HttpServer
    start_timeout: float = 30.0
    """For the first connection and tool listing (each restart gets as long)."""
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    protocol: ProtocolMode = "auto"

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if isinstance(self.server, StdioServer) else "http"

    @classmethod
    def from_section(cls, section: McpStdioSection | McpHttpSection, base_dir: Path) -> McpServerSpec:
        """The spec an ``mcp:`` entry of the ``tools`` section describes (secrets unwrapped here, held privately)."""
        from agentrt.config._tools import McpStdioSection

        server: StdioServer | HttpServer
        if isinstance(section, McpStdioSection):
            server = StdioServer(
                command=section.command,
                args=tuple(section.args),
                env={name: value.get_secret_value() for name, value in section.env.items()},
                cwd=section.resolved_cwd(base_dir),
            )
        else:
            server = HttpServer(
                url=section.url, headers={name: value.get_secret_value() for name, value in section.headers.items()}
            )
        return cls(server=server, start_timeout=float(section.start_timeout))
