"""How a process reaches the shard hosts: their handles by shard, and tells and asks batched per host.

Both sides use it: a client (``RayAgents``, what ``rt.agents`` is under Ray)
and each shard host (to reach the agents of the other shards, host to host).

Batching: a tell does not call its host at once. It joins the host's outbox,
and the outbox is sent after the current event-loop turn (``call_soon``), so
the tells that a burst of coroutines makes in one turn travel in one Ray call
(``deliver``), and each caller gets its own outcome from the reply. Asks are
batched the same way into one call (``ask_batch``): the answers that come
within a short window travel back in its reply, the slower ones follow in a
stream (``answers``) as their handlers finish, so an ask never waits long for
a slower neighbour of its batch.

Each message carries its sender's trace context (see :mod:`._trace`).

Errors: an agent's error travels back as the exception itself and is raised
to the caller; a host that died with the call in flight is an ``AgentError``
saying so (a ``tell`` that got it was not acknowledged: it may or may not
have been queued).
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentrt.agents.ray._hashing import ShardMap
from agentrt.agents.ray._trace import carrier
from agentrt.errors import AgentError, AgentTerminated

if TYPE_CHECKING:
    from agentrt.agents.activity import Activity
    from agentrt.config import Config, RayBackendSection

__all__ = ["HostRouter", "host_name", "portable_error", "remote_error"]

_Tell = tuple[str, "Activity", "dict[str, str] | None", "asyncio.Future[None]"]
_Ask = tuple[str, "Activity", "float | None", "dict[str, str] | None", "asyncio.Future[Any]"]


def host_name(shard: int) -> str:
    """The Ray actor name of shard ``shard``'s host (within the configured namespace)."""
    return f"agentrt-shard-{shard}"


class HostRouter:
    """Shard host handles (created on first use, detached, restarted by Ray) and the per-host outboxes."""

    def __init__(self, config: Config, section: RayBackendSection, code_types: Callable[[], list[Any]]) -> None:
        self.config = config
        self.namespace = section.namespace
        self.shard_of = ShardMap(section.shards)
        self.host_resources = dict(section.host_resources)
        self._code_types = code_types
        self._handles: dict[int, Any] = {}
        self._tells: dict[int, list[_Tell]] = {}
        self._asks: dict[int, list[_Ask]] = {}
        self._flushing = False
        self._sending: set[asyncio.Task[None]] = set()

    # --- hosts ------------------------------------------------------------------------------

    def handle(self, shard: int) -> Any:
        """Shard ``shard``'s host: the running one, or one created now (it restores its agents as it starts)."""
        handle = self._handles.get(shard)
        if handle is None:
            from agentrt.agents.ray.host import shard_host_class

            handle = shard_host_class().options(
                name=host_name(shard),
                namespace=self.namespace,
                lifetime="detached",
                get_if_exists=True,
                max_restarts=-1,  # Ray restarts a dead host (on a live node) for as long as the cluster lives
                max_task_retries=0,  # a call in flight when it died fails: a tell is acknowledged only once queued
                max_concurrency=10_000,
                num_cpus=0,  # hosts are mostly waiting: they must not hold the cluster's CPUs for scheduling
                resources=self.host_resources or None,
                # Spread over the nodes: a node's death then takes few shards, and their hosts restart elsewhere.
                scheduling_strategy="SPREAD",
            ).remote(self.config, shard, self.shard_of.shards, self.namespace, self._code_types())
            self._handles[shard] = handle
        return handle

    def forget_handles(self) -> None:
        """Drop the handles (the hosts were stopped): the next call creates its host anew."""
        self._handles.clear()

    def known_hosts(self) -> list[int]:
        """The shards whose host exists in the cluster (any process may have created it)."""
        import ray

        names = {
            entry["name"]
            for entry in ray.util.list_named_actors(all_namespaces=True)
            if entry["namespace"] == self.namespace
        }
        return [shard for shard in range(self.shard_of.shards) if host_name(shard) in names]

    def push_types(self, types: list[Any]) -> None:
        """Send agent types registered from code to the hosts already in use (later ones get them at first use)."""
        for handle in self._handles.values():
            handle.add_types.remote(types)

    async def call(self, agent_id: str, method: str, *args: Any) -> Any:
        """``method(*args)`` on the host of ``agent_id``'s shard; its error raised here."""
        return await self.call_shard(self.shard_of(agent_id), method, *args)

    async def call_shard(self, shard: int, method: str, *args: Any) -> Any:
        ref = getattr(self.handle(shard), method).remote(*args)
        try:
            return await ref
        except Exception as err:
            raise remote_error(err, shard) from None

    # --- batched tells and asks -----------------------------------------------------------------

    def tell(self, agent_id: str, activity: Activity) -> asyncio.Future[None]:
        """Queue ``activity`` for ``agent_id`` at its host; the future resolves once it is queued there."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tells.setdefault(self.shard_of(agent_id), []).append((agent_id, activity, carrier(), future))
        self._schedule()
        return future

    def ask(self, agent_id: str, activity: Activity, timeout: float | None) -> asyncio.Future[Any]:
        """Ask ``agent_id`` at its host; the future resolves with the handler's result (or its error)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._asks.setdefault(self.shard_of(agent_id), []).append((agent_id, activity, timeout, carrier(), future))
        self._schedule()
        return future

    def _schedule(self) -> None:
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        tells, self._tells = self._tells, {}
        asks, self._asks = self._asks, {}
        loop = asyncio.get_running_loop()
        for shard, batch in tells.items():
            self._track(loop.create_task(self._send_tells(shard, batch)))
        for shard, questions in asks.items():
            self._track(loop.create_task(self._send_asks(shard, questions)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send_tells(self, shard: int, batch: list[_Tell]) -> None:
        try:
            ref = self.handle(shard).deliver.remote([item[:3] for item in batch])
            outcomes = await ref
        except Exception as err:
            failure = remote_error(err, shard)
            for *_, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        for (*_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)

    async def _send_asks(self, shard: int, questions: list[_Ask]) -> None:
        try:
            await self._ask_host(shard, questions)
        except asyncio.CancelledError:
            given_up = AgentTerminated(
                "the agents client closed before this answer came (the agent may still process it in its host)"
            )
            for *_, future in questions:
                if not future.done():
                    future.set_exception(given_up)
            raise

    async def _ask_host(self, shard: int, questions: list[_Ask]) -> None:
        try:
            handle = self.handle(shard)
            if len(questions) == 1:  # a plain call costs less than a stream
                agent_id, activity, timeout, trace, future = questions[0]
                ok, value = await handle.ask.remote(agent_id, activity, timeout, trace)
                _settle(future, ok, value)
                return
            answered, rest = await handle.ask_batch.remote([question[:4] for question in questions])
            for index, ok, value in answered:
                _settle(questions[index][4], ok, value)
            if rest:
                async for ref in handle.answers.remote(rest):
                    for index, ok, value in await ref:
                        _settle(questions[index][4], ok, value)
        except Exception as err:
            failure = remote_error(err, shard)
            for *_, future in questions:
                if not future.done():
                    future.set_exception(failure)

    async def drain(self, timeout: float | None = None) -> int:
        """Wait for what is being sent, at most ``timeout`` seconds; then give up on the rest (their callers
        get ``CancelledError``). Returns how many sends were given up."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while self._sending or self._tells or self._asks:
            if not self._sending:
                await asyncio.sleep(0)  # the outbox is sent at the end of this turn
                continue
            remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if remaining is not None and remaining <= 0:
                left = list(self._sending)
                for task in left:
                    task.cancel()
                await asyncio.gather(*left, return_exceptions=True)
                return len(left)
            await asyncio.wait(set(self._sending), timeout=remaining)
        return 0


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def remote_error(err: BaseException, shard: int) -> BaseException:
    """What a caller sees of a failed Ray call: the host's own error, or an ``AgentError`` naming the host."""
    import ray.exceptions

    if isinstance(err, ray.exceptions.RayTaskError):
        cause = err.cause
        if isinstance(cause, BaseException):
            return cause
    if isinstance(err, ray.exceptions.ActorUnavailableError):
        return AgentError(
            f"the shard host {host_name(shard)} is restarting (Ray brings it back on a live node): this call may "
            "not have reached it and was not acknowledged; retry it in a moment"
        )
    if isinstance(err, ray.exceptions.ActorDiedError):
        return AgentError(
            f"the shard host {host_name(shard)} stopped with this call in flight (Ray restarts it): its durable "
            "agents come back with every acknowledged activity; this call was not acknowledged, retry it. "
            f"Ray says: {_first_lines(err)}"
        )
    if isinstance(err, ray.exceptions.RayError):
        return AgentError(f"the call to shard host {host_name(shard)} failed in Ray: {type(err).__name__}: {err}")
    return err


def portable_error(err: BaseException) -> BaseException:
    """``err`` if it survives pickling (it travels to the caller's process), else an ``AgentError`` naming it."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return AgentError(f"{type(err).__name__}: {err}")
    return err


def _first_lines(err: BaseException, limit: int = 600) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text[:limit] + ("..." if len(text) > limit else "")
