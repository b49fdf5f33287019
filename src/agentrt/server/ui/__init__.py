"""The web dashboard at ``/ui``: spend, calls, policies, agents and tools, server-rendered, with live parts.

Pages are Jinja2 templates rendered on the server (they work without
JavaScript); htmx swaps parts of them, server-sent events feed the live chart
and an agent's event stream, and uPlot draws the charts. htmx and uPlot are
vendored under ``static/vendor`` (see its ``VERSIONS.md``). Log in with an
admin key or a key with the ``dashboard`` scope; see :mod:`.viewer` for what a
tenant's key sees.
"""

from __future__ import annotations

from agentrt.server.ui.routes import UiRoutes

__all__ = ["UiRoutes"]
