"""The circuit breaker of one provider: stop sending requests to a provider that keeps failing.

States::

    closed ──(``failures`` retryable failures in a row)──> open
    open ──(``cooldown`` elapsed, noticed on the next call or read of ``state``)──> half_open
    half_open ──(the one trial call succeeds)──> closed
    half_open ──(the trial call fails with a retryable error)──> open, with a fresh cooldown

Only retryable errors (``error.retryable``: timeouts, 5xx, 429, dropped
connections) count: an auth error or a bad request says nothing about the
provider's health. Calls that started before the breaker opened and finish
while it is open or half-open do not change it: in half-open only the trial
decides.

The breaker is synchronous and lock-free: everything runs on one event loop,
and no method awaits between reading and changing the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from agentrt.errors import AgentRTError, CircuitOpen
from agentrt.resilience._log import logger

if TYPE_CHECKING:
    from agentrt.config import BreakerSection

__all__ = ["BreakerListener", "CircuitBreaker", "CircuitState"]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


BreakerListener: TypeAlias = Callable[[str, CircuitState, CircuitState], object]
"""Called as ``listener(name, old_state, new_state)`` on every state change."""


class CircuitBreaker:
    """Opens after ``failures`` consecutive retryable failures; lets one trial through after ``cooldown``.

    ``failures=0`` disables the breaker: it never opens. ``clock`` returns
    seconds (monotonic); tests pass a fake one.

    Use: ``trial = breaker.before_call()`` (raises :class:`CircuitOpen` instead
    of letting the call happen), then exactly one of
    ``record_success(trial)`` or ``record_failure(error, trial)`` when the call
    ends, also when it was cancelled (pass the ``CancelledError``).
    """

    __slots__ = (
        "_clock",
        "_consecutive_failures",
        "_cooldown",
        "_listeners",
        "_opened_at",
        "_state",
        "_threshold",
        "_trial_in_flight",
        "name",
    )

    def __init__(
        self,
        name: str,
        *,
        failures: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._listeners: list[BreakerListener] = []
        self._threshold = 0
        self._cooldown = 0.0
        self.configure(failures=failures, cooldown=cooldown)

    @classmethod
    def from_section(
        cls, name: str, section: BreakerSection, *, clock: Callable[[], float] = time.monotonic
    ) -> CircuitBreaker:
        """The breaker of provider ``name`` as its ``breaker`` configuration section says."""
        return cls(name, failures=section.failures, cooldown=section.cooldown, clock=clock)

    def configure(self, *, failures: int, cooldown: float) -> None:
        """Change the thresholds, keeping the state: an open breaker stays open (a new cooldown
        counts from when it opened). ``failures=0`` disables it, which closes an open one."""
        if failures < 0:
            raise ValueError(f"failures must be 0 (disabled) or more, got {failures}")
        if cooldown < 0:
            raise ValueError(f"cooldown must be 0 or more seconds, got {cooldown}")
        self._threshold = failures
        self._cooldown = float(cooldown)
        if failures == 0 and self._state is not CircuitState.CLOSED:
            self._consecutive_failures = 0
            self._transition(CircuitState.CLOSED)

    @property
    def failure_threshold(self) -> int:
        """How many retryable failures in a row open the breaker; 0: never."""
        return self._threshold

    @property
    def cooldown(self) -> float:
        """Seconds an open breaker refuses calls before it lets a trial through."""
        return self._cooldown

    @property
    def consecutive_failures(self) -> int:
        """Retryable failures since the last success (what ``failures`` is compared with)."""
        return self._consecutive_failures

    @property
    def state(self) -> CircuitState:
        """The current state. An open breaker whose cooldown has passed turns half-open here."""
        if self._state is CircuitState.OPEN and self._remaining_cooldown() <= 0:
            self._transition(CircuitState.HALF_OPEN)
        return self._state

    def sibling(self, name: str) -> CircuitBreaker:
        """A new, closed breaker named ``name`` with this one's thresholds, clock and listeners
        (a deployment's breaker beside its provider's)."""
        breaker = CircuitBreaker(name, failures=self._threshold, cooldown=self._cooldown, clock=self._clock)
        breaker._listeners = list(self._listeners)
        return breaker

    def add_listener(self, listener: BreakerListener) -> None:
        """Call ``listener(name, old, new)`` on every state change (e.g. to export it as a metric).

        A listener that raises is logged and otherwise ignored: it must not fail calls.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener: BreakerListener) -> None:
        """Stop calling ``listener``; harmless when it was not added."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # --- the call protocol -----------------------------------------------------

    def before_call(self) -> bool:
        """Admit a call or raise :class:`CircuitOpen`. Returns True when the call is the half-open trial."""
        state = self._state
        if state is CircuitState.CLOSED:  # the hot path: one comparison
            return False
        if state is CircuitState.OPEN:
            remaining = self._remaining_cooldown()
            if remaining > 0:
                count = self._consecutive_failures
                raise CircuitOpen(
                    f"provider {self.name!r} is failing: its circuit breaker opened after "
                    f"{count} failure{'s' if count != 1 else ''} in a row, so no request was sent; "
                    f"it lets a trial request through in {remaining:.1f}s. "
                    "Try again later or configure a fallback model",
                    provider=self.name,
                    retry_after=remaining,
                )
            self._transition(CircuitState.HALF_OPEN)
        if self._trial_in_flight:
            raise CircuitOpen(
                f"provider {self.name!r} is recovering from failures: one trial request is checking "
                "whether it answers again, and no other request is sent until it does. "
                "Try again shortly or configure a fallback model",
                provider=self.name,
                retry_after=None,
            )
        self._trial_in_flight = True
        return True

    def record_success(self, trial: bool) -> None:
        """The call admitted by :meth:`before_call` succeeded."""
        if trial:
            self._trial_in_flight = False
            if self._state is CircuitState.HALF_OPEN:
                self._consecutive_failures = 0
                self._transition(CircuitState.CLOSED)
        elif self._state is CircuitState.CLOSED:
            self._consecutive_failures = 0

    def record_failure(self, error: BaseException, trial: bool) -> None:
        """The call admitted by :meth:`before_call` failed with ``error`` (or was cancelled).

        A non-retryable error or a cancellation is neutral: it neither counts nor
        resets the count, and a half-open trial that ends so leaves the breaker
        half-open, so the next call becomes the trial.
        """
        counts = isinstance(error, AgentRTError) and error.retryable and not isinstance(error, CircuitOpen)
        if trial:
            self._trial_in_flight = False
            if counts and self._state is CircuitState.HALF_OPEN:
                self._consecutive_failures += 1
                self._open()
            return
        if not counts or self._state is not CircuitState.CLOSED or self._threshold == 0:
            return
        self._consecutive_failures += 1
        if self._consecutive_failures >= self._threshold:
            self._open()

    # --- internals -------------------------------------------------------------

    def _remaining_cooldown(self) -> float:
        return self._opened_at + self._cooldown - self._clock()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._transition(CircuitState.OPEN)

    def _transition(self, new: CircuitState) -> None:
        old = self._state
        self._state = new
        log = logger()
        emit = log.warning if new is CircuitState.OPEN else log.info
        emit(
            "circuit_state_changed",
            provider=self.name,
            old=old.value,
            new=new.value,
            failures=self._consecutive_failures,
        )
        for listener in tuple(self._listeners):
            try:
                listener(self.name, old, new)
            except Exception as exc:
                log.error(
                    "circuit_listener_failed",
                    provider=self.name,
                    listener=getattr(listener, "__qualname__", repr(listener)),
                    error=f"{type(exc).__name__}: {exc}",
                )

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker({self.name!r}, state={self._state.value}, "
            f"failures={self._consecutive_failures}/{self._threshold}, cooldown={self._cooldown:g}s)"
        )
