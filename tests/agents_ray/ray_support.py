"""A Ray cluster of a few nodes on this machine, kept on loopback, for the Ray backend's tests and benchmark.
(A plain module imported as ``ray_support``: the test folders are not packages.)

Why each setting:

- ``ray.init(address="127.0.0.1:port")`` rewrites a loopback address to the
  machine's network address (``resolve_ip_for_localhost``) unless
  ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; with it, and ``node_ip_address``
  ``127.0.0.1`` on every node and client, Ray binds and dials loopback only.
  The variables are set in this process, so the nodes, their workers and the
  client subprocesses (``client_env``) inherit them.
- ``RAY_TMPDIR`` and each node's ``temp_dir`` point into a private, short
  directory: Ray writes the "current cluster" file there instead of /tmp/ray,
  and its Unix sockets stay under the 107-byte path limit.
- No dashboard, no usage stats, worker logs not sent to the driver, a 100 MB
  object store: quiet and quick to start on a small machine.

Stopping: only the processes this cluster started (its nodes' processes and
their descendants, remembered with their start times so a reused pid is never
hit), never ``ray stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
OBJECT_STORE_BYTES = 100 * 1024 * 1024
RAY_ENV_LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    RAY_ENV_LOOPBACK: "0",  # loopback addresses stay loopback (see the docstring)
    "RAY_DEDUP_LOGS": "0",
}
HOST_RESOURCE = "agentrt_host"
"""A custom resource only worker nodes offer (``agents_backend.ray.host_resources`` asks for it)."""
_NODE_ARGS: dict[str, Any] = {
    "node_ip_address": LOOPBACK,
    "num_cpus": 1,
    "object_store_memory": OBJECT_STORE_BYTES,
    "include_dashboard": False,
}

# A node that dies is declared dead after about 2 s, not Ray's default 15 s or so: failover tests wait less.
_HEAD_SYSTEM_CONFIG: dict[str, Any] = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 4,
}


# --- processes ------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return int(fields[1]), int(fields[19])


def descendants(roots: Iterable[int]) -> set[int]:
    """The roots that are alive and every live process below them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid for pid in roots if _stat(pid) is not None]
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return found


def _kill_if_same(pid: int, started: int) -> None:
    stat = _stat(pid)
    if stat is not None and stat[1] == started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- sockets --------------------------------------------------------------------------------------

_TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "0A": "LISTEN"}


@dataclass(frozen=True, slots=True)
class Socket:
    pid: int
    proto: str  # tcp | udp
    state: str  # LISTEN, ESTABLISHED, SYN_SENT (tcp); UNCONN, CONNECTED (udp)
    local: str
    remote: str

    @property
    def loopback_only(self) -> bool:
        """Bound to loopback, and (when connected) talking to loopback."""
        return _is_loopback(self.local) and (self.state in ("LISTEN", "UNCONN") or _is_loopback(self.remote))


def _is_loopback(endpoint: str) -> bool:
    address = ipaddress.ip_address(endpoint.rsplit(":", 1)[0].strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _decode(hex_endpoint: str) -> str:
    """/proc/net's ``0100007F:1F90`` (address in host byte order, 32-bit words) as ``127.0.0.1:8080``."""
    hex_address, hex_port = hex_endpoint.split(":")
    raw = bytes.fromhex(hex_address)
    ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(ordered)
    host = str(address) if address.version == 4 else f"[{address}]"
    return f"{host}:{int(hex_port, 16)}"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def inet_sockets(pids: Iterable[int]) -> list[Socket]:
    """Every TCP and UDP socket (IPv4 and IPv6) these processes hold open."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    sockets = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                pid = owner.get(fields[9])
                if pid is None:
                    continue
                proto = table.rstrip("6")
                if proto == "tcp":
                    state = _TCP_STATES.get(fields[3])
                    if state is None:  # closing, time-wait...: no longer in use
                        continue
                else:
                    state = "UNCONN" if fields[2].endswith(":0000") else "CONNECTED"
                sockets.append(Socket(pid, proto, state, _decode(fields[1]), _decode(fields[2])))
    return sockets


# --- the cluster ----------------------------------------------------------------------------------


def ray_environment(temp_root: str, python_path: Iterable[str] = ()) -> dict[str, str]:
    env = {**RAY_ENV, "RAY_TMPDIR": temp_root}
    paths = [*python_path, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class LoopbackCluster:
    """A head and ``workers`` worker nodes (``ray.cluster_utils.Cluster``), all on 127.0.0.1.

    ``start()`` sets the Ray variables in this process (``os.environ``; restored by
    ``shutdown()``), starts the nodes and, with ``connect``, connects this process
    as a driver in ``namespace``. ``python_path``: folders the nodes' workers import
    from, so that agent classes of tests travel by reference: a dataclass shipped
    by value (cloudpickle) loses its ``dataclasses.MISSING`` sentinels, which
    pydantic then refuses.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        namespace: str = "agentrt-tests",
        connect: bool = True,
        python_path: Iterable[str] = (),
    ) -> None:
        self.workers = workers
        self.python_path = [str(p) for p in python_path]
        self.namespace = namespace
        self.connect = connect
        # Short: Ray's socket paths live under it, and a Unix socket path is at most 107 bytes.
        self.temp_root = tempfile.mkdtemp(prefix="rt", dir="/tmp")
        self.temp_dir = os.path.join(self.temp_root, "ray")
        os.makedirs(self.temp_dir)
        self._saved_env: dict[str, str | None] = {}
        self._cluster: Any = None
        self._started: dict[int, int] = {}  # pid -> start time, everything this cluster started

    # -- lifetime --

    def start(self) -> LoopbackCluster:
        try:
            return self._start()
        except BaseException:
            self.shutdown()
            raise

    def _start(self) -> LoopbackCluster:
        for name, value in ray_environment(self.temp_root, self.python_path).items():
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        import ray
        from ray._private import ray_constants
        from ray.cluster_utils import Cluster

        # Ray reads this variable once, at import: if ray was imported before start(), say it here.
        ray_constants.ENABLE_RAY_CLUSTER = False
        self._cluster = Cluster(shutdown_at_exit=True)
        self._cluster.add_node(**_NODE_ARGS, temp_dir=self.temp_dir, _system_config=_HEAD_SYSTEM_CONFIG)
        for _ in range(self.workers):
            self.add_node()
        if self.connect:
            ray.init(
                address=self.address,
                namespace=self.namespace,
                _node_ip_address=LOOPBACK,
                log_to_driver=False,
                logging_level="WARNING",
            )
        self.remember_processes()
        return self

    def shutdown(self) -> None:
        import ray

        self.remember_processes()
        with contextlib.suppress(Exception):
            ray.shutdown()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.shutdown()
        deadline = time.monotonic() + 5
        while any(_stat(pid) is not None for pid in self._started) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid, started in self._started.items():
            _kill_if_same(pid, started)
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        with contextlib.suppress(ImportError):
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = os.environ.get(RAY_ENV_LOOPBACK, "1") != "0"
        shutil.rmtree(self.temp_root, ignore_errors=True)

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- nodes --

    @property
    def address(self) -> str:
        """The GCS address (``127.0.0.1:port``) that ``ray.init(address=...)`` takes."""
        address: str = self._cluster.address
        return address

    @property
    def head(self) -> Any:
        return self._cluster.head_node

    @property
    def worker_nodes(self) -> list[Any]:
        return list(self._cluster.worker_nodes)

    def add_node(self, **node_args: Any) -> Any:
        # Worker nodes offer HOST_RESOURCE and the head does not, so a test can keep shard hosts off the head.
        node = self._cluster.add_node(**{**_NODE_ARGS, "resources": {HOST_RESOURCE: 100.0}, **node_args})
        self.remember_processes()
        return node

    def remove_node(self, node: Any, *, graceful: bool = False) -> None:
        """Kill a worker node's processes (its raylet and the workers under it), as a crashed machine would."""
        workers = descendants(self.node_pids(node))
        self._cluster.remove_node(node, allow_graceful=graceful)
        for pid in workers:  # the workers notice their raylet's death by themselves; do not wait for it
            if (started := self._started.get(pid)) is not None:
                _kill_if_same(pid, started)

    def node_pids(self, node: Any) -> set[int]:
        return {info.process.pid for infos in node.all_processes.values() for info in infos}

    # -- what this cluster started --

    def remember_processes(self) -> None:
        roots = {pid for node in self._cluster.list_all_nodes() for pid in self.node_pids(node)}
        for pid in descendants(roots):
            if pid != os.getpid() and (stat := _stat(pid)) is not None:
                self._started.setdefault(pid, stat[1])

    def pids(self) -> set[int]:
        """The live processes this cluster started (nodes, their workers and agents)."""
        self.remember_processes()
        return {pid for pid, started in self._started.items() if (stat := _stat(pid)) and stat[1] == started}

    def client_env(self) -> dict[str, str]:
        """The environment of a client subprocess: this process's, with the Ray variables set."""
        return {**os.environ, **ray_environment(self.temp_root, self.python_path), "RAY_ADDRESS": self.address}


@contextlib.contextmanager
def loopback_cluster(**options: Any) -> Iterator[LoopbackCluster]:
    cluster = LoopbackCluster(**options)
    try:
        yield cluster.start()
    finally:
        cluster.shutdown()


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


# --- the Ray backend on a cluster ---------------------------------------------------------------


def ray_config(
    address: str, namespace: str, store_url: str, redis_url: str, *, shards: int = 4, **extra: Any
) -> dict[str, Any]:
    """A configuration with ``agents_backend.kind: ray`` on this cluster: PostgreSQL store, Redis policies
    (what the backend requires), an offline model, quiet logs."""
    return {
        "logging": {"console": {"format": "off"}},
        "store": {"url": store_url},
        "policies": {"backend": redis_url, "key_prefix": f"{namespace}:"},
        "providers": {"offline": {"kind": "local"}},
        "models": {"local": {"provider": "offline", "name": "echo", "pricing": {"input": 0, "output": 0}}},
        "agents_backend": {
            "kind": "ray",
            "ray": {"address": address, "namespace": namespace, "shards": shards, "node_ip": LOOPBACK},
        },
        **extra,
    }


async def host_pings(agents: Any, *, within: float = 60.0) -> dict[int, dict[str, Any]]:
    """Every shard host's ``ping`` (shard, pid, node id, agents...), waiting for restarting hosts."""
    deadline = time.monotonic() + within
    pings: dict[int, dict[str, Any]] = {}
    for shard in range(agents.router.shard_of.shards):
        while True:
            try:
                pings[shard] = await agents.router.call_shard(shard, "ping")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    return pings


def ids_by_shard(shards: int, prefix: str, per_shard: int) -> dict[int, list[str]]:
    """``per_shard`` agent ids for each shard (rendezvous hashing decides: we search)."""
    from agentrt.agents.ray import rendezvous_shard

    found: dict[int, list[str]] = {shard: [] for shard in range(shards)}
    n = 0
    while any(len(ids) < per_shard for ids in found.values()):
        agent_id = f"{prefix}-{n}"
        bucket = found[rendezvous_shard(agent_id, shards)]
        if len(bucket) < per_shard:
            bucket.append(agent_id)
        n += 1
    return found
