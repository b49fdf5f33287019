"""Ray stays on loopback, and a test cluster stops only what it started.

By default a Ray node advertises the machine's network address and its
processes connect through it; the fixtures pin everything to 127.0.0.1
(ray_support's docstring says how). These tests look at the sockets of every
process the cluster started (and of this driver) after real work crossed
nodes, and at what a cluster's shutdown leaves behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
from ray_support import LoopbackCluster, _stat, inet_sockets


def _foreign(pids: set[int]) -> list[str]:
    return [
        f"pid {s.pid} {s.proto} {s.state} {s.local} -> {s.remote}" for s in inet_sockets(pids) if not s.loopback_only
    ]


def test_the_socket_audit_sees_a_socket_open_to_the_network() -> None:
    """The check below must be able to fail: a socket on the wildcard address is reported."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as wide, socket.socket() as narrow:
        wide.bind(("0.0.0.0", 0))
        wide.listen()
        narrow.bind(("127.0.0.1", 0))
        narrow.listen()
        mine = {s.local: s for s in inet_sockets({os.getpid()})}
        wide_port, narrow_port = wide.getsockname()[1], narrow.getsockname()[1]
        assert not mine[f"0.0.0.0:{wide_port}"].loopback_only
        assert mine[f"127.0.0.1:{narrow_port}"].loopback_only
        assert mine[f"127.0.0.1:{narrow_port}"].state == "LISTEN"


def test_nodes_workers_and_driver_listen_and_connect_on_loopback_only(ray_cluster: LoopbackCluster) -> None:
    import ray

    @ray.remote(num_cpus=0)
    class Echo:
        def where(self) -> tuple[int, str]:
            return os.getpid(), ray.get_runtime_context().get_node_id()

    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # One actor on each node, so workers exist everywhere and calls cross nodes.
    nodes = [ray_cluster.head.node_id, *(node.node_id for node in ray_cluster.worker_nodes)]
    actors = [
        Echo.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()  # type: ignore[attr-defined]
        for node in nodes
    ]
    placed = ray.get([a.where.remote() for a in actors], timeout=60)
    assert sorted(node for _, node in placed) == sorted(nodes)
    node_ips = {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
    assert node_ips == {"127.0.0.1"}

    pids = ray_cluster.pids() | {os.getpid()} | {pid for pid, _ in placed}
    assert len(pids) > 6  # gcs, raylets, workers...: the audit saw the cluster, not just this process
    assert _foreign(pids) == []
    for actor in actors:
        ray.kill(actor)


def test_a_client_process_connects_over_loopback(ray_cluster: LoopbackCluster) -> None:
    """A separate client (``ray.init(address=...)``) reaches the cluster and opens no other connection."""
    script = textwrap.dedent(
        """
        import os, sys
        sys.path.insert(0, sys.argv[1])
        import ray
        from ray_support import inet_sockets
        ray.init(address=os.environ["RAY_ADDRESS"], _node_ip_address="127.0.0.1", log_to_driver=False,
                 logging_level="WARNING", namespace="agentrt-tests")
        assert ray.get(ray.put(41)) + 1 == 42
        foreign = [s for s in inet_sockets({os.getpid()}) if not s.loopback_only]
        print("FOREIGN", foreign)
        print("SOCKETS", len(inet_sockets({os.getpid()})))
        ray.shutdown()
        """
    )
    here = os.path.dirname(__file__)
    result = subprocess.run(
        [sys.executable, "-c", script, here],
        env=ray_cluster.client_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "FOREIGN []" in result.stdout
    sockets = int(result.stdout.split("SOCKETS ")[1].split()[0])
    assert sockets > 0  # it did connect, over loopback


def test_shutdown_stops_only_the_processes_of_its_own_cluster(ray_cluster: LoopbackCluster) -> None:
    # The session cluster's node processes (gcs, raylets, ...): long-lived, unlike workers of earlier tests.
    others = {pid for node in [ray_cluster.head, *ray_cluster.worker_nodes] for pid in ray_cluster.node_pids(node)}
    second = LoopbackCluster(workers=0, connect=False).start()
    try:
        its_own = second.pids()
        assert its_own
        assert not its_own & others
        assert all(second.temp_root in " ".join(_cmdline(pid)) for pid in second.node_pids(second.head))
    finally:
        second.shutdown()
    assert [pid for pid in its_own if _stat(pid) is not None] == []
    assert not os.path.exists(second.temp_root)
    assert [pid for pid in others if _stat(pid) is None] == [], "stopping one cluster touched another"
    assert os.environ.get("RAY_TMPDIR") == ray_cluster.temp_root  # the session cluster's settings are back


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace").split("\0")
    except OSError:
        pytest.fail(f"process {pid} vanished")
