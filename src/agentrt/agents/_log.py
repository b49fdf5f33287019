"""The logger of the agents package, fetched per use."""

from __future__ import annotations

from typing import Any

import structlog


def logger() -> Any:
    """The ``agentrt.agents`` logger.

    Fetched per use, not once at import: with ``cache_logger_on_first_use`` a
    module-level proxy would keep the configuration of its first use and miss a
    later reconfiguration (and ``structlog.testing.capture_logs``). Agents log
    failures, restarts and stops, never the path of a processed activity.
    """
    return structlog.get_logger("agentrt.agents")
