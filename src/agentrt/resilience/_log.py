"""The logger of this package, fetched per use."""

from __future__ import annotations

from typing import Any


def logger() -> Any:
    """The ``agentrt.resilience`` logger.

    Fetched per use, not once at import: with ``cache_logger_on_first_use`` a
    module-level proxy would keep the configuration of its first use and miss a
    later reconfiguration (and ``structlog.testing.capture_logs``). Only state
    changes and fallbacks log, never the success path, so the lookup is cheap
    enough.
    """
    import structlog

    return structlog.get_logger("agentrt.resilience")
