"""Real Ray clusters, PostgreSQL schemas and ``capplan serve`` replicas for the scale-out tests.

:class:`RayCluster` starts a head node and worker nodes with ``ray start`` as separate
process groups, each with its own temp dir and ports, every one with ``--num-cpus``.  When
this process may create network namespaces (root with ``ip netns``), each worker node runs
in a namespace of its own behind a veth pair — a separate host with its own IP address — and
the head listens on the host end of the first pair; otherwise every node is a plain process
on 127.0.0.1 (:attr:`RayCluster.isolation` says which).  ``stop()`` kills every process the
cluster started (by process group and session, and any process whose command line names one of its temp
dirs, or in the session ``ray start`` began) and deletes the namespaces; fixtures call it in
``finally``.

Ray's token authentication is set explicitly (a random token, one per test process, in the
environment of every node, replica and driver) so nothing depends on ``~/.ray``.  A test
that drives Ray in its own process calls :func:`use_in_this_process` before importing Ray:
Ray reads the token once per process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("CAPPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BIN = Path(sys.executable).parent


TOKEN = secrets.token_hex(16)
"""Ray auth token of every test cluster of this process."""


def use_in_this_process() -> None:
    """Let this process join the test clusters (call before ``import ray``)."""
    os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN, "RAY_USAGE_STATS_ENABLED": "0"})
    os.environ.pop("RAY_ADDRESS", None)


def ray_missing() -> str | None:
    """Why Ray cannot be used here, or None (without importing it)."""
    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed (pip install 'capplan[ray]')"
    if not (BIN / "ray").exists() and shutil.which("ray") is None:
        return "the `ray` command is not on PATH"
    return None


def postgres_missing() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"no PostgreSQL server at {PG_URL}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards."""
    schema = f"capplan_ray_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all held open while they are chosen: separate calls may be
    given the same port again, and Ray refuses a command line that names one port twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


_AGENT_PORTS = ("dashboard-agent-listen", "dashboard-agent-grpc", "runtime-env-agent", "metrics-export")


def _ray_cmd() -> str:
    exe = BIN / "ray"
    return str(exe) if exe.exists() else "ray"


def _netns_possible() -> str | None:
    """Why network namespaces cannot be used, or None."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no `ip` command"
    name = f"capchk{uuid.uuid4().hex[:6]}"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"`ip netns add` failed: {exc}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return None


@dataclass
class Node:
    name: str
    temp_dir: Path
    ip: str
    pgid: int
    netns: str | None = None
    node_id: str = ""


@dataclass
class RayCluster:
    """A head node and worker nodes (see the module docstring)."""

    root: Path
    cpus_per_node: int = 1
    isolate: bool = True
    token: str = TOKEN
    nodes: list[Node] = field(default_factory=list)
    isolation: str = "processes"
    isolation_note: str = ""
    gcs_port: int = 0
    head_ip: str = "127.0.0.1"
    _links: list[tuple[str, str]] = field(default_factory=list)  # (netns, host veth)
    _subnet: tuple[int, int] = (0, 0)

    # -- environment ---------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment for anything that talks to this cluster (nodes, replicas, drivers)."""
        env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "RAY_USAGE_STATS_ENABLED": "0",
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        env.pop("RAY_ADDRESS", None)
        return env

    @property
    def address(self) -> str:
        return f"{self.head_ip}:{self.gcs_port}"

    # -- start ----------------------------------------------------------------------------

    def start(self, workers: int = 1) -> RayCluster:
        if self.isolate:
            reason = _netns_possible()
            if reason is None:
                self.isolation = "netns"
                self._subnet = (200 + secrets.randbelow(50), secrets.randbelow(250))
        if self.isolation == "netns":
            # The first veth pair gives the head an address the namespaced workers can reach.
            try:
                self.head_ip = self._link(0)
            except (subprocess.SubprocessError, OSError) as exc:
                self.isolation_note = f"network namespace set-up failed ({exc}): plain processes"
                self._unlink()
                self.isolation, self.head_ip = "processes", "127.0.0.1"
        self.gcs_port, *ports = free_ports(8)
        head_dir = self.root / "head"
        names = ("node-manager", "object-manager", "dashboard", *_AGENT_PORTS)
        args = [
            "--head",
            f"--port={self.gcs_port}",
            *(f"--{n}-port={p}" for n, p in zip(names, ports, strict=True)),
            "--include-dashboard=false",
        ]
        self._ray_start("head", head_dir, self.head_ip, args, netns=None)
        for i in range(workers):
            self.add_worker(i + 1)
        self.refresh_node_ids()
        return self

    def add_worker(self, index: int) -> Node:
        name = f"worker{index}"
        tmp = self.root / f"{name}-{uuid.uuid4().hex[:4]}"
        if self.isolation == "netns":
            if index != 1:
                raise NotImplementedError("one namespaced worker per cluster")
            netns = self._links[0][0]
            ip = f"10.{self._subnet[0]}.{self._subnet[1]}.2"
            node = self._ray_start(name, tmp, ip, [f"--address={self.address}"], netns=netns)
        else:
            names = ("node-manager", "object-manager", *_AGENT_PORTS)
            ports = free_ports(len(names))
            args = [
                f"--address={self.address}",
                *(f"--{n}-port={p}" for n, p in zip(names, ports, strict=True)),
            ]
            node = self._ray_start(name, tmp, "127.0.0.1", args, netns=None)
        return node

    def _link(self, index: int) -> str:
        """A namespace for worker ``index`` (0: only the host end, for the head); the host IP."""
        a, b = self._subnet
        host_ip = f"10.{a}.{b}.1"
        if index == 0:
            ns = f"capns{uuid.uuid4().hex[:6]}"
            host_if, ns_if = f"vh{ns[5:]}", f"vn{ns[5:]}"
            self._links.append((ns, host_if))  # first: a failure below is cleaned up too
            run = (
                ["ip", "netns", "add", ns],
                ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
            )
            for cmd in run:
                subprocess.run(cmd, check=True, capture_output=True, timeout=10)
            for cmd in (
                ["ip", "link", "set", ns_if, "netns", ns],
                ["ip", "addr", "add", f"{host_ip}/24", "dev", host_if],
                ["ip", "link", "set", host_if, "up"],
                ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                ["ip", "netns", "exec", ns, "ip", "addr", "add", f"10.{a}.{b}.2/24", "dev", ns_if],
                ["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"],
            ):
                subprocess.run(cmd, check=True, capture_output=True, timeout=10)
        return host_ip

    def _ray_start(self, name: str, tmp: Path, ip: str, args: list[str], netns: str | None) -> Node:
        tmp.mkdir(parents=True, exist_ok=True)
        cmd = [
            _ray_cmd(),
            "start",
            f"--temp-dir={tmp}",
            f"--node-ip-address={ip}",
            f"--num-cpus={self.cpus_per_node}",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
            *args,
        ]
        if netns is not None:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        log = open(self.root / f"{name}.log", "ab")
        try:
            proc = subprocess.Popen(
                cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            node = Node(name, tmp, ip, proc.pid, netns)
            self.nodes.append(node)  # so that stop() finds it even if it fails to start
            code = proc.wait(120)
        finally:
            log.close()
        if code != 0:
            raise RuntimeError(
                f"ray start of {name} failed ({code}):\n{(self.root / f'{name}.log').read_text()[-3000:]}"
            )
        return node

    # -- inspect --------------------------------------------------------------------------

    def alive_nodes(self) -> list[dict[str, Any]]:
        """``[{"id", "ip", "cpus"}]`` of the alive nodes, asked from a separate driver process."""
        code = (
            "import json, ray\n"
            f"ray.init(address={self.address!r}, log_to_driver=False, configure_logging=False)\n"
            "print(json.dumps([{'id': n['NodeID'], 'ip': n['NodeManagerAddress'],"
            " 'cpus': n['Resources'].get('CPU', 0)} for n in ray.nodes() if n['Alive']]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return list(json.loads(out.stdout.strip().splitlines()[-1]))

    def refresh_node_ids(self) -> None:
        by_ip: dict[str, list[str]] = {}
        for n in self.alive_nodes():
            by_ip.setdefault(n["ip"], []).append(n["id"])
        known = {n.node_id for n in self.nodes}
        for node in self.nodes:
            if not node.node_id:
                ids = [i for i in by_ip.get(node.ip, []) if i not in known]
                if len(ids) == 1:
                    node.node_id = ids[0]
                    known.add(ids[0])
        if self.isolation == "processes":  # same IP: tell them apart by their session dirs
            for node in self.nodes:
                node.node_id = _node_id_from_session(node.temp_dir) or node.node_id

    # -- stop -----------------------------------------------------------------------------

    def pids(self, node: Node) -> list[int]:
        """Processes of a node: its session (``ray start`` ran in a new one; the raylet's workers
        have process groups of their own in it), and anything naming its temp dir."""
        out: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                if node.pgid in (os.getpgid(pid), os.getsid(pid)):  # Ray workers: own group, same session
                    out.add(pid)
                    continue
                if str(node.temp_dir) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    out.add(pid)
            except (OSError, ProcessLookupError):
                continue
        out.discard(os.getpid())
        return sorted(out)

    def kill_node(self, node: Node) -> int:
        """SIGKILL every process of the node (a machine lost); how many."""
        pids = self.pids(node)
        with contextlib.suppress(OSError):
            os.killpg(node.pgid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.kill_node(node)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for n in self.nodes for p in self.pids(n)):
            for node in self.nodes:
                self.kill_node(node)
            time.sleep(0.2)
        self._unlink()

    def _unlink(self) -> None:
        for ns, host_if in self._links:
            subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self._links.clear()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _node_id_from_session(tmp: Path) -> str:
    """The node id a raylet wrote in its log (``node_id=…`` on its start-up lines)."""
    for log in sorted(tmp.glob("session_*/logs/raylet.out")):
        for line in log.read_text(errors="replace").splitlines():
            marker = "node_id="
            if "Setting node ID" in line or ("node_id=" in line and "Raylet" in line):
                return line.split(marker, 1)[1].split()[0] if marker in line else ""
    return ""


@contextlib.contextmanager
def ray_cluster(workers: int = 1, *, cpus_per_node: int = 1, isolate: bool = True) -> Iterator[RayCluster]:
    """A started cluster in a short temp dir (Ray's socket paths must stay under 108 bytes).

    ``CAPPLAN_TEST_RAY_NETNS=0`` in the environment keeps every node a plain process.
    """
    isolate = isolate and os.environ.get("CAPPLAN_TEST_RAY_NETNS", "1") != "0"
    base = Path(tempfile.mkdtemp(prefix="capray-", dir="/tmp"))
    cluster = RayCluster(base, cpus_per_node=cpus_per_node, isolate=isolate)
    try:
        cluster.start(workers)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


# ----------------------------------------------------------------------------- API replicas


def _capplan() -> list[str]:
    script = BIN / "capplan"
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.base + path, timeout=kw.pop("timeout", 120), **kw)

    def kill(self) -> None:
        """SIGKILL (a replica lost with its machine)."""
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


@contextlib.contextmanager
def replicas(
    tmp: Path, names: list[str], env: dict[str, str], *, expect_nodes: int = 1, timeout: float = 120
) -> Iterator[list[Replica]]:
    """``capplan serve`` processes, one per name (``CAPPLAN_REPLICA_ID``), each ready with its
    runner seeing at least ``expect_nodes`` Ray nodes (Ray runner) before this yields."""
    started: list[Replica] = []
    try:
        for name in names:
            port = free_port()
            log = tmp / f"serve-{name}.log"
            proc = subprocess.Popen(
                [*_capplan(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env={**env, "CAPPLAN_REPLICA_ID": name, "CAPPLAN_LOG_LEVEL": "info"},
                stdout=open(log, "ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started.append(Replica(name, proc, f"http://127.0.0.1:{port}", log))
        for r in started:
            deadline = time.monotonic() + timeout
            while True:
                assert r.proc.poll() is None, f"replica {r.name} exited:\n{r.log.read_text()[-4000:]}"
                with contextlib.suppress(httpx.TransportError):
                    ready = r.get("/readyz")
                    detail = json.dumps(ready.json())
                    if ready.status_code == 200 and (
                        "Ray cluster" not in detail or f"{expect_nodes} nodes" in detail or expect_nodes <= 1
                    ):
                        break
                assert time.monotonic() < deadline, (
                    f"replica {r.name} never ready:\n{r.log.read_text()[-4000:]}"
                )
                time.sleep(0.2)
        yield started
    finally:
        for r in started:
            if r.proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(r.proc.pid, signal.SIGTERM)
        for r in started:
            try:
                r.proc.wait(40)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(r.proc.pid, signal.SIGKILL)
                r.proc.wait(10)


# ----------------------------------------------------------------------------- requests


def medium_request(periods: int = 96) -> dict[str, Any]:
    """3 sites, 5 hardware options, 3 workloads, monthly periods: ~6,000 columns, ~0.3 s."""
    return {
        "name": "medium",
        "horizon": {"periods": periods, "period_months": 1},
        "economics": {"discount_rate": 0.05},
        "sites": [
            {
                "id": f"s{i}",
                "power_mw": [2.0 + 0.4 * i + 0.05 * t for t in range(periods)],
                "energy_usd_per_mwh": 40 + 5 * i,
            }
            for i in range(3)
        ],
        "hardware": [
            {
                "id": f"h{j}",
                "vendor": f"v{j % 2}",
                "it_power_kw": 8 + 2 * j,
                "unit_price_usd": 1000.0 * (1 + 0.1 * j),
                "lifetime_years": 3,
                "performance": {
                    f"m{k}": {
                        "points": [
                            {"tokens_per_s_per_user": 10, "tokens_per_s_per_unit": 900 + 50 * j + 20 * k},
                            {"tokens_per_s_per_user": 40, "tokens_per_s_per_unit": 300 + 30 * j + 10 * k},
                        ]
                    }
                    for k in range(3)
                },
            }
            for j in range(5)
        ],
        "workloads": [
            {
                "id": f"w{k}",
                "model": f"m{k}",
                "min_tokens_per_s_per_user": 10 + 10 * k,
                "demand_tokens_per_s": 40000 + 15000 * k,
                "demand_growth_per_year": 0.3,
                "min_service_fraction": 0.5,
                "unmet_penalty_usd_per_million_tokens": 5,
            }
            for k in range(3)
        ],
        "policy": {"max_vendor_share": {"v0": 0.7}},
    }
