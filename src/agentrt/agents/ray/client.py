"""``RayAgents``: ``rt.agents`` when ``agents_backend.kind`` is ``ray``.

Any process connected to the cluster (a gateway worker, a script) gets the
same API as with the local backend: spawn, tell, ask, terminate, resume and
the coroutine reads (``find``, ``fetch_state``, ``fetch_stats``,
``fetch_list``, ``watch``). Each call goes to the shard host of the agent's
id (rendezvous hashing over ``agents_backend.ray.shards``); tells and asks
are batched per host and event-loop turn (see :mod:`._router`).

The synchronous reads of the local backend (``state()``, ``status()``,
``list()``, ``owner()``, ``stats()``, ``in``, ``subscribe()``) work too, by
waiting for the host's answer (``ray.get``): they block the event loop for a
round trip, so code on an event loop should prefer the coroutines.

Types: those of the configuration (``agents.<type>``) are registered in every
host from the configuration it is given. A type registered from code here
travels to the hosts (its class pickled by reference: its module must be
importable there) when they are first used, and to those in use at once.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentrt.agents._log import logger
from agentrt.agents.activity import Activity, PriorityLike, priority_value
from agentrt.agents.events import AgentEvent, StatusChanged
from agentrt.agents.instance import AgentInfo, AgentStats, AgentStatus
from agentrt.agents.ray._connect import check_config, connect
from agentrt.agents.ray._router import HostRouter, remote_error
from agentrt.agents.ray._shard import type_spec
from agentrt.agents.ray._types_kv import forget_types, publish_types
from agentrt.agents.registry import AgentType
from agentrt.agents.runtime import AgentRuntime
from agentrt.errors import AgentError, AgentNotFound, AgentTerminated, AgentTimeout, RuntimeStateError

if TYPE_CHECKING:
    from agentrt.agents.agent import Agent
    from agentrt.calls import Principal
    from agentrt.config import Config, MailboxSection, RestartSection

__all__ = ["RayAgents", "RayEventStream"]

# How much longer than an ask's own timeout the client waits for the host's answer (the host says
# AgentTimeout itself; this only bounds a host that stopped answering).
_ASK_GRACE = 5.0


class RayAgents(AgentRuntime):
    """The ``ray`` agent backend: a client of the shard hosts. Holds no agents itself."""

    kind = "ray"

    def __init__(self, config: Config, *, shutdown_timeout: float = 30.0) -> None:
        super().__init__(shutdown_timeout=shutdown_timeout)
        self.config = config
        self.section = config.agents_backend.ray
        self._code_types: dict[str, AgentType] = {}
        self.router = HostRouter(config, self.section, self._type_specs)
        self._hosts_up: asyncio.Task[None] | None = None

    def _type_specs(self) -> builtins.list[Any]:
        return [type_spec(kind) for kind in self._code_types.values()]

    # --- types and lifecycle -----------------------------------------------------------------

    def register(
        self,
        name: str,
        agent_class: type[Agent[Any]],
        *,
        model: str | None = None,
        mailbox: MailboxSection | Mapping[str, Any] | None = None,
        restart: RestartSection | Mapping[str, Any] | None = None,
        durable: bool = False,
        user: str | None = None,
        tenant: str | None = None,
        tools: Sequence[str] = (),
    ) -> AgentType:
        """Register a type from code: here (for its codec) and in the shard hosts."""
        kind = super().register(
            name, agent_class, model=model, mailbox=mailbox, restart=restart, durable=durable, user=user,
            tenant=tenant, tools=tools,
        )
        self._code_types[kind.name] = kind
        if self._started:
            publish_types(self.section.namespace, [type_spec(kind)])
            self.router.push_types([type_spec(kind)])
        return kind

    def _add_type(self, kind: AgentType) -> None:
        # The hosts hold the agents and the store: a durable type needs no store here.
        if kind.name in self._types:
            raise AgentError(f"agent type {kind.name!r} is already registered; pick another name")
        self._types[kind.name] = kind

    async def start(self) -> None:
        """Check the configuration suits a cluster and connect to it (``ray.init``, unless connected)."""
        if self._started:
            raise RuntimeStateError("this agent runtime was already started")
        check_config(self.config)
        await asyncio.to_thread(connect, self.section)
        self._started = True
        if self._code_types:
            publish_types(self.section.namespace, self._type_specs())
        # Every shard's host, in the background: after a whole cluster restarted, the durable agents of a
        # shard nobody messages would otherwise wait for a first message to be restored.
        self._hosts_up = asyncio.get_running_loop().create_task(self._bring_up_hosts())

    async def _bring_up_hosts(self) -> None:
        try:
            await self.ensure_hosts()
        except Exception as err:
            logger().warning("agent_hosts_not_all_up", error=f"{type(err).__name__}: {err}",
                             hint="they start when their agents are first messaged")

    async def ensure_hosts(self) -> None:
        """Start every shard's host (those running already are left as they are) and wait until each has
        restored its agents."""
        await asyncio.gather(*(self.router.call_shard(s, "ping") for s in range(self.router.shard_of.shards)))

    async def close(self, timeout: float | None = None) -> dict[str, int]:
        """Finish sending what is batched and wait for the answers of asks in flight, at most ``timeout``
        (default ``shutdown_timeout``) seconds. The hosts and their agents go on (they are the cluster's)."""
        if self._closing:
            return {}
        self._closing = True
        if self._hosts_up is not None and not self._hosts_up.done():
            self._hosts_up.cancel()
            await asyncio.gather(self._hosts_up, return_exceptions=True)
        given_up = await self.router.drain(self.shutdown_timeout if timeout is None else timeout)
        if given_up:
            logger().warning("agents_client_closed_with_asks_in_flight", calls=given_up,
                             hint="the agents still process them in their hosts; raise runtime.shutdown_timeout")
        self._closed = True
        return {}

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every host's mailboxes are empty and nothing is being processed."""
        await self.router.drain()
        await asyncio.gather(
            *(self.router.call_shard(shard, "wait_idle", timeout) for shard in self.router.known_hosts())
        )

    async def stop_hosts(self) -> None:
        """Stop every shard host of the namespace (their runtimes close; durable agents keep their journals).

        For tests and tear-downs: the hosts are detached, so they outlive the processes that created them."""
        import ray

        if self._hosts_up is not None and not self._hosts_up.done():
            await asyncio.gather(self._hosts_up, return_exceptions=True)  # none may appear after the stop

        async def stop(shard: int) -> None:
            handle = self.router.handle(shard)
            try:
                await handle.stop.remote()
            finally:
                ray.kill(handle, no_restart=True)

        await asyncio.gather(*(stop(shard) for shard in self.router.known_hosts()))
        self.router.forget_handles()
        forget_types(self.section.namespace)

    async def host_metrics(self) -> dict[int, bytes]:
        """Each running host's Prometheus text (its agents and their model calls), by shard."""
        shards = self.router.known_hosts()
        texts = await asyncio.gather(*(self.router.call_shard(shard, "metrics") for shard in shards))
        return dict(zip(shards, texts, strict=True))

    # --- commands ------------------------------------------------------------------------------

    async def spawn(
        self,
        agent_type: str,
        agent_id: str,
        *,
        state: Any = None,
        exist_ok: bool = False,
        owner: Principal | None = None,
    ) -> str:
        self._check_open()
        # A type registered from code travels with the spawn: the host may have started before it was.
        kind = self._code_types.get(agent_type)
        spec = type_spec(kind) if kind is not None else None
        result: str = await self.router.call(agent_id, "spawn", agent_type, agent_id, state, exist_ok, owner, spec)
        return result

    def tell(
        self,
        agent_id: str,
        payload: Any,
        *,
        priority: PriorityLike = "normal",
        type: str = "message",
        correlation_id: str | None = None,
        sender: Principal | None = None,
    ) -> Coroutine[Any, Any, Activity]:
        return self._send(agent_id, _activity(payload, priority, type, correlation_id, sender))

    async def _send(self, agent_id: str, activity: Activity) -> Activity:
        if self._closing:
            self._refuse(agent_id, None)
        await self.router.tell(agent_id, activity)
        return activity

    def ask(
        self,
        agent_id: str,
        payload: Any,
        *,
        timeout: float | None = None,
        priority: PriorityLike = "normal",
        type: str = "message",
        correlation_id: str | None = None,
        sender: Principal | None = None,
    ) -> Coroutine[Any, Any, Any]:
        return self._question(agent_id, _activity(payload, priority, type, correlation_id, sender), timeout)

    async def _question(self, agent_id: str, activity: Activity, timeout: float | None) -> Any:
        if self._closing:
            self._refuse(agent_id, None)
        answer = self.router.ask(agent_id, activity, timeout)
        if timeout is None:
            return await answer
        try:
            return await asyncio.wait_for(answer, timeout + _ASK_GRACE)
        except TimeoutError:
            raise AgentTimeout(
                f"agent {agent_id!r}'s shard host did not answer within {timeout + _ASK_GRACE:g}s; the activity "
                "may still be processed",
                agent=agent_id,
                timeout=timeout,
            ) from None

    async def terminate(self, agent_id: str, *, drain: bool = True, timeout: float | None = None) -> int:
        result: int = await self.router.call(agent_id, "terminate", agent_id, drain, timeout)
        return result

    async def resume(self, agent_id: str) -> None:
        await self.router.call(agent_id, "resume", agent_id)

    def _refuse(self, agent_id: str, instance: Any) -> Any:
        raise AgentTerminated(
            f"this agent client is closed: agent {agent_id!r} is still running in its shard host; open a new "
            "runtime to reach it",
            agent=agent_id,
        )

    # --- reads (coroutines) ------------------------------------------------------------------------

    async def find(self, agent_id: str) -> AgentInfo | None:
        result: AgentInfo | None = await self.router.call(agent_id, "find", agent_id)
        return result

    async def fetch_state(self, agent_id: str) -> Any:
        return await self.router.call(agent_id, "state", agent_id)

    async def fetch_stats(self, agent_id: str) -> AgentStats:
        result: AgentStats = await self.router.call(agent_id, "stats", agent_id)
        return result

    async def fetch_list(self) -> builtins.list[AgentInfo]:
        shards = self.router.known_hosts()
        parts = await asyncio.gather(*(self.router.call_shard(shard, "list_agents") for shard in shards))
        return sorted((info for part in parts for info in part), key=lambda info: info.id)

    async def watch(self, agent_id: str, *, buffer: int = 256) -> RayEventStream:  # type: ignore[override]
        stream = RayEventStream(self.router, agent_id, buffer)
        await stream.open()
        return stream

    # --- reads (blocking: a round trip to the host) ---------------------------------------------------

    def _blocking(self, agent_id: str, method: str) -> Any:
        import ray

        shard = self.router.shard_of(agent_id)
        try:
            return ray.get(getattr(self.router.handle(shard), method).remote(agent_id))
        except Exception as err:
            raise remote_error(err, shard) from None

    def _known(self, agent_id: str) -> AgentInfo:
        info: AgentInfo | None = self._blocking(agent_id, "find")
        if info is None:
            raise AgentNotFound(
                f"no agent {agent_id!r}: spawn it first with rt.agents.spawn(type, {agent_id!r})", agent=agent_id
            )
        return info

    def state(self, agent_id: str) -> Any:
        return self._blocking(agent_id, "state")

    def status(self, agent_id: str) -> AgentStatus:
        return self._known(agent_id).status

    def owner(self, agent_id: str) -> Principal | None:
        info = self._known(agent_id)
        if info.owner_user is None and info.owner_tenant is None:
            return None
        from agentrt.calls import Principal

        return Principal(info.owner_user, info.owner_tenant)

    def stats(self, agent_id: str) -> AgentStats:
        result: AgentStats = self._blocking(agent_id, "stats")
        return result

    def list(self) -> builtins.list[AgentInfo]:
        import ray

        shards = self.router.known_hosts()
        parts = ray.get([self.router.handle(shard).list_agents.remote() for shard in shards])
        return sorted((info for part in parts for info in part), key=lambda info: info.id)

    def __contains__(self, agent_id: object) -> bool:
        return isinstance(agent_id, str) and self._blocking(agent_id, "find") is not None

    def __len__(self) -> int:
        return len(self.list())

    def __bool__(self) -> bool:
        return True  # not len(): truth must not cost a round trip to every host

    def subscribe(self, agent_id: str, *, buffer: int = 256) -> RayEventStream:  # type: ignore[override]
        """The agent's events; the stream starts on the first read (use :meth:`watch` to be sure of every
        event from the moment it returns)."""
        info = self._known(agent_id)
        if info.status is AgentStatus.TERMINATED:
            raise AgentTerminated(f"agent {agent_id!r} is terminated: it has no more events", agent=agent_id)
        return RayEventStream(self.router, agent_id, buffer)


class RayEventStream:
    """An agent's events streamed from its host (a Ray streaming generator).

    When the host dies under it, the stream asks the restarted host about the
    agent: a durable one is followed again (events of the gap are not
    replayed: an ``EventsDropped`` with count 0 marks the seam), one that was
    lost yields a ``lost`` status and ends the stream.
    """

    def __init__(self, router: HostRouter, agent_id: str, buffer: int) -> None:
        self.router = router
        self.agent = agent_id
        self.buffer = buffer
        self._stream: Any = None
        self._closed = False

    async def open(self) -> None:
        """Subscribe at the host; returns once events from now on are kept for this stream."""
        shard = self.router.shard_of(self.agent)
        stream = self.router.handle(shard).events.remote(self.agent, self.buffer)
        try:
            await (await stream.__anext__())  # the host's "subscribed" marker
        except Exception as err:
            raise remote_error(err, shard) from None
        self._stream = stream

    def __aiter__(self) -> RayEventStream:
        return self

    async def __anext__(self) -> AgentEvent:
        if self._closed:
            raise StopAsyncIteration
        if self._stream is None:
            await self.open()
        try:
            event: AgentEvent = await (await self._stream.__anext__())
            return event
        except StopAsyncIteration:
            self._closed = True
            raise
        except Exception as err:
            return await self._after_host_failure(err)

    async def _after_host_failure(self, err: BaseException) -> AgentEvent:
        import ray.exceptions

        if not isinstance(err, ray.exceptions.RayError) or isinstance(err, ray.exceptions.RayTaskError):
            raise remote_error(err, self.router.shard_of(self.agent)) from None
        info: AgentInfo | None = await self.router.call(self.agent, "find", self.agent)
        if info is None or info.status in (AgentStatus.LOST, AgentStatus.TERMINATED):
            self._closed = True
            status = info.status.value if info is not None else AgentStatus.LOST.value
            return StatusChanged(agent=self.agent, status=status, reason="its shard host died")
        from agentrt.agents.events import EventsDropped

        await self.open()
        return EventsDropped(agent=self.agent, count=0)

    async def aclose(self) -> None:
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is not None:
            import ray

            # Already finished, or the host is gone: nothing to stop.
            with contextlib.suppress(Exception):
                ray.cancel(stream)

    async def __aenter__(self) -> RayEventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _activity(
    payload: Any, priority: PriorityLike, type: str, correlation_id: str | None, sender: Principal | None
) -> Activity:
    if payload.__class__ is Activity:
        activity: Activity = payload
        if sender is not None:
            activity.sender = sender
        return activity
    level = priority if priority.__class__ is int else priority_value(priority)
    return Activity._new(payload, type, level, None, correlation_id, sender)
