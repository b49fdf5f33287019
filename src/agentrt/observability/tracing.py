"""OpenTelemetry spans for model calls, attempts and tool calls, with the GenAI semantic conventions.

Off by default. When off, :attr:`Tracing.enabled` is False and the call path
skips every span (a ``nullcontext``), so tracing costs nothing unless asked for.
The OpenTelemetry API is imported only when tracing is on; the SDK and the OTLP
exporter only when agentrt sets them up itself (``exporter: otlp | console``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.trace import Span, Tracer

    from agentrt.config import TracingSection

__all__ = ["Tracing"]

_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()


class Tracing:
    """The runtime's tracer, or nothing when tracing is off.

    ``span_processor`` replaces the configured exporter (tests pass one around
    an in-memory exporter).
    """

    def __init__(
        self,
        section: TracingSection,
        *,
        service_name: str = "agentrt",
        span_processor: SpanProcessor | None = None,
    ) -> None:
        self.enabled = section.enabled or span_processor is not None
        self._provider: Any = None
        self._tracer: Tracer | None = None
        if not self.enabled:
            return
        from opentelemetry import trace

        from agentrt._version import __version__

        if span_processor is None and section.exporter == "global":
            self._tracer = trace.get_tracer("agentrt", __version__)
            return
        self._provider = _sdk_provider(section, section.service_name or service_name, span_processor)
        self._tracer = self._provider.get_tracer("agentrt", __version__)

    @contextlib.contextmanager
    def span(self, name: str, attributes: dict[str, Any], *, current: bool = True) -> Iterator[Span | None]:
        """A CLIENT span named ``name`` (None when tracing is off); an exception marks it failed.

        ``current=False`` does not make it the current span: for async generators,
        whose consumer may close them from another context.
        """
        if self._tracer is None:
            yield None
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        token = None
        if current:
            from opentelemetry import context, trace

            token = context.attach(trace.set_span_in_context(span))
        try:
            yield span
        except GeneratorExit:
            span.set_attribute("agentrt.abandoned", True)  # the reader stopped early: not an error
            raise
        except BaseException as err:
            span.record_exception(err)
            span.set_attribute("error.type", type(err).__name__)
            span.set_status(Status(StatusCode.ERROR, str(err)[:200]))
            raise
        finally:
            if token is not None:
                from opentelemetry import context

                context.detach(token)
            span.end()

    def maybe_span(self, name: str, attributes: dict[str, Any]) -> contextlib.AbstractContextManager[Span | None]:
        """Like :meth:`span`, but free when tracing is off (no generator is even created)."""
        if self._tracer is None:
            return _NO_SPAN
        return self.span(name, attributes)

    def shutdown(self) -> None:
        """Flush and stop the exporter agentrt set up (not a global provider it was given)."""
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None


def _sdk_provider(section: TracingSection, service_name: str, span_processor: SpanProcessor | None) -> Any:
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as err:
        from agentrt.errors import ConfigError, ConfigProblem

        raise ConfigError(
            [
                ConfigProblem(
                    "observability.tracing.exporter",
                    "tracing needs the OpenTelemetry SDK: pip install 'agentrt[otel]' "
                    "(or set exporter: global and set up OpenTelemetry yourself)",
                )
            ]
        ) from err
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if span_processor is not None:
        provider.add_span_processor(span_processor)
    elif section.exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError as err:
            from agentrt.errors import ConfigError, ConfigProblem

            raise ConfigError(
                [
                    ConfigProblem(
                        "observability.tracing.exporter",
                        "the otlp exporter needs opentelemetry-exporter-otlp-proto-http: pip install 'agentrt[otel]'",
                    )
                ]
            ) from err
        exporter = OTLPSpanExporter(endpoint=section.endpoint) if section.endpoint else OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
