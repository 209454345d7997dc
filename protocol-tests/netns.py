"""Network-namespace test harness: nodes on a private bridge that a test can cut off and heal.

What it owns: for one `Network`, a Linux bridge in the host namespace with the address
10.213.X.1/24 (X claimed per run, see `_claim_subnet`), one network namespace per node with a
veth pair into that bridge (node i gets 10.213.X.(i+2)/24 on its `eth0`), and a "void"
device in every namespace (the host's included): one end of a veth pair whose other end is
down, with ARP off. Processes run inside a node through
`ip netns exec` (`popen`, `run`), so a broker in a node binds and advertises its own address.

How a cut works, and why that way: `cut(node, peers)` adds a /32 route to each peer through
the void device in the node's namespace, and the mirror route back in each peer's namespace.
The void device drops whatever it is given and reports success, and it does no ARP, so
nothing ever answers: no RST, no ICMP, no "network unreachable" to the sender. An established
TCP connection hangs (its writes are accepted, retransmits vanish) and a new `connect()` hangs
in SYN_SENT until the client's own timeout; after `heal` the same connection carries on, as
after a real black-holed WAN partition. Interface down/up would instead drop the node's
routes or carrier (fast local errors), and tc netem / iptables are not available on the test
machines (no sch_netem or dummy module, no iptables/nft binaries); routes and veth pairs need
only iproute2. The cut
can be partial (`peers=[HOST]`: clients on the host lose the node, other nodes keep it).

Invariants: every namespace, interface and subnet claim carries the creating pid (namespaces
`strait-nn-<pid>-<counter>-<node>`, interfaces `stn` + pid (5 base-36 digits) + counter (2) + role, claims
`/run/strait-netns/10.213.X.claim` holding the pid); `close()` removes everything the Network
made even after a failure, and `sweep_stale()` removes what a dead pid left behind (pytest
killed with SIGKILL). Nothing here touches a name without the prefix. "Dead" is judged in
this process's pid namespace: two sandboxes sharing one network namespace but not their pid
namespaces could sweep each other's networks (not the case on the test machines or in CI).
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

NS_PREFIX = "strait-nn-"
IF_PREFIX = "stn"
CLAIM_DIR = Path("/run/strait-netns")
SUBNET_BASE = "10.213"
_NS_RE = re.compile(rf"^{NS_PREFIX}(\d+)-")
_IF_RE = re.compile(rf"^{IF_PREFIX}([0-9a-z]{{5}})[0-9a-z]{{2}}(?:br|vd|vp|h[a-z0-9]{{1,4}})$")
_CLAIM_RE = re.compile(r"^10\.213\.(\d+)\.claim$")
_counter = itertools.count()
_open: set["Network"] = set()


class NetnsError(RuntimeError):
    pass


def _b36(n: int, width: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out, rest = "", n
    while rest:
        rest, r = divmod(rest, 36)
        out = digits[r] + out
    out = out.rjust(width, "0")
    if len(out) != width:
        raise NetnsError(f"{n} does not fit {width} base-36 digits")
    return out


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `ip ARGS`; a failure names the command and what the kernel said."""
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` exited {p.returncode}: {p.stderr.strip()}")
    return p


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it if the test process dies, so a killed
    pytest leaves no process holding a namespace (Linux PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except Exception:  # noqa: BLE001 - best effort; not Linux or no libc
        pass


def _kill_namespace_processes(ns: str) -> None:
    out = ip("netns", "pids", ns, check=False).stdout.split()
    for pid in out:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def sweep_stale() -> list[str]:
    """Remove namespaces, interfaces and subnet claims whose creating pid is dead.
    Returns what was removed (for the log)."""
    removed: list[str] = []
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NS_RE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            _kill_namespace_processes(name)
            if ip("netns", "del", name, check=False).returncode == 0:
                removed.append(f"netns {name}")
    links = json.loads(ip("-j", "link", "show", check=False).stdout or "[]")
    for link in links:
        name = link.get("ifname", "")
        m = _IF_RE.match(name)
        if m and not _pid_alive(int(m.group(1), 36)):
            if ip("link", "del", name, check=False).returncode == 0:
                removed.append(f"link {name}")
    if CLAIM_DIR.is_dir():
        for f in CLAIM_DIR.iterdir():
            if not _CLAIM_RE.match(f.name):
                continue
            try:
                pid = int(f.read_text().strip() or "0")
            except (OSError, ValueError):
                continue
            if pid and not _pid_alive(pid):
                f.unlink(missing_ok=True)
                removed.append(f"claim {f.name}")
    return removed


def _subnets_in_use() -> set[int]:
    """X of every 10.213.X.0/24 that overlaps an IPv4 network of a host interface."""
    nets = []
    for link in json.loads(ip("-j", "addr", "show", check=False).stdout or "[]"):
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                nets.append(ipaddress.ip_network(f"{a['local']}/{a.get('prefixlen', 32)}", strict=False))
    return {x for x in range(256) if any(n.overlaps(ipaddress.ip_network(f"{SUBNET_BASE}.{x}.0/24")) for n in nets)}


def _claim_subnet(pid: int) -> tuple[int, Path]:
    """Claim a free 10.213.X.0/24: the claim file is created with O_EXCL, so two parallel
    runs that derive the same X from their pids cannot both take it; X starts at a value
    derived from the pid and probes upwards."""
    CLAIM_DIR.mkdir(parents=True, exist_ok=True)
    used = _subnets_in_use()
    start = pid % 250
    for i in range(250):
        x = 1 + (start + i) % 250
        if x in used:
            continue
        path = CLAIM_DIR / f"{SUBNET_BASE}.{x}.claim"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{pid}\n")
        return x, path
    raise NetnsError(f"no free {SUBNET_BASE}.X.0/24 subnet (all claimed in {CLAIM_DIR} or in use)")


def _add_void(where: list[str], void: str, peer: str) -> None:
    """The discard device: one end of a veth pair whose other end stays down, with ARP
    off. The kernel drops what is sent into it and tells the sender nothing (no carrier,
    so no neighbour resolution that could fail and report EHOSTUNREACH)."""
    ip(*where, "link", "add", void, "type", "veth", "peer", "name", peer)
    ip(*where, "link", "set", void, "arp", "off")
    ip(*where, "link", "set", void, "up")


@dataclass(frozen=True)
class Node:
    name: str
    ns: str | None  # None: the host namespace
    addr: str
    void: str  # the discard device in this namespace

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return ip("-n", self.ns, *args, check=check) if self.ns else ip(*args, check=check)


class Network:
    """A bridge plus namespaces (see the module docs). Use as a context manager or call
    close(); close() is idempotent and also registered with atexit as a backstop."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.counter = next(_counter)
        self.tag = f"{IF_PREFIX}{_b36(self.pid, 5)}{_b36(self.counter % 1296, 2)}"  # 10 of IFNAMSIZ 15
        self.nodes: dict[str, Node] = {}
        self._cut: set[frozenset[str]] = set()
        self._procs: list[subprocess.Popen] = []
        self._closed = False
        self.subnet, self._claim = _claim_subnet(self.pid)
        self.bridge = f"{self.tag}br"
        _open.add(self)
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.prefix}.1/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            _add_void([], f"{self.tag}vd", f"{self.tag}vp")
        except BaseException:
            self.close()
            raise
        self.host = Node("host", None, f"{self.prefix}.1", f"{self.tag}vd")

    @property
    def prefix(self) -> str:
        return f"{SUBNET_BASE}.{self.subnet}"

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add_node(self, name: str) -> Node:
        """A namespace with lo up, eth0 on the bridge at the next address, and its void device."""
        if name in self.nodes or name == "host":
            raise NetnsError(f"node {name!r} already exists")
        if not re.fullmatch(r"[a-z0-9]{1,4}", name):
            raise NetnsError(f"node name {name!r}: 1-4 lowercase letters or digits (it goes into interface names)")
        index = len(self.nodes)
        if index > 250:
            raise NetnsError("at most 251 nodes per network")
        ns = f"{NS_PREFIX}{self.pid}-{self.counter}-{name}"
        addr = f"{self.prefix}.{index + 2}"
        host_end = f"{self.tag}h{name}"
        node = Node(name, ns, addr, "void")
        ip("netns", "add", ns)
        self.nodes[name] = node  # registered at once: close() removes a half-built node too
        ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("link", "set", host_end, "master", self.bridge)
        ip("link", "set", host_end, "up")
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        _add_void(["-n", ns], "void", "voidpeer")
        return node

    def node(self, name: str) -> Node:
        return self.host if name == "host" else self.nodes[name]

    # -- processes --------------------------------------------------------

    def argv(self, node: Node | str, argv: list[str]) -> list[str]:
        """argv wrapped to run inside `node` (unchanged for the host). `ip netns exec`
        execs in place, so the Popen pid is the process itself (signals reach it)."""
        n = self.node(node) if isinstance(node, str) else node
        return ["ip", "netns", "exec", n.ns, *argv] if n.ns else list(argv)

    def popen(self, node: Node | str, argv: list[str], **kw) -> subprocess.Popen:
        """Start argv inside `node`; killed by close() (and when the test process dies)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("preexec_fn", _die_with_parent)
        p = subprocess.Popen(self.argv(node, argv), **kw)
        self._procs.append(p)
        return p

    def run(self, node: Node | str, argv: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.argv(node, argv), timeout=timeout, **kw)

    # -- partitions -------------------------------------------------------

    def _peers(self, node: str, peers) -> list[str]:
        every = ["host", *self.nodes]
        names = [p if isinstance(p, str) else p.name for p in (peers if peers is not None else every)]
        for p in names:
            self.node(p)  # KeyError names the unknown node
        return [p for p in names if p != node]

    def cut(self, node: Node | str, peers=None) -> None:
        """Black-hole all traffic between `node` and `peers` (default: everyone, the host
        included), both directions. Cutting a pair that is already cut is a no-op."""
        name = node if isinstance(node, str) else node.name
        for peer in self._peers(name, peers):
            pair = frozenset((name, peer))
            if pair in self._cut:
                continue
            a, b = self.node(name), self.node(peer)
            a.ip("route", "add", f"{b.addr}/32", "dev", a.void)
            self._cut.add(pair)
            b.ip("route", "add", f"{a.addr}/32", "dev", b.void)

    def heal(self, node: Node | str, peers=None) -> None:
        """Undo cut() for those pairs (default: every pair `node` is in)."""
        name = node if isinstance(node, str) else node.name
        for peer in self._peers(name, peers):
            pair = frozenset((name, peer))
            if pair not in self._cut:
                continue
            a, b = self.node(name), self.node(peer)
            a.ip("route", "del", f"{b.addr}/32", "dev", a.void, check=False)
            b.ip("route", "del", f"{a.addr}/32", "dev", b.void, check=False)
            self._cut.discard(pair)

    def is_cut(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self._cut

    # -- cleanup ----------------------------------------------------------

    def close(self) -> None:
        """Kill what runs in the namespaces, delete them (their veth pairs go with them),
        the bridge, the host void device and the subnet claim. Raises NetnsError naming
        what could not be removed, after trying everything."""
        if self._closed:
            return
        self._closed = True
        _open.discard(self)
        problems: list[str] = []
        for p in self._procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    problems.append(f"process {p.pid} did not die on SIGKILL")
        # The host's cut routes go with the void device; the namespaces' with the namespaces.
        for node in self.nodes.values():
            _kill_namespace_processes(node.ns)
            r = ip("netns", "del", node.ns, check=False)
            if r.returncode != 0 and "No such file" not in r.stderr:
                problems.append(f"netns {node.ns}: {r.stderr.strip()}")
        for link in (self.bridge, f"{self.tag}vd"):  # deleting vd deletes its peer vp
            r = ip("link", "del", link, check=False)
            if r.returncode != 0 and "Cannot find device" not in r.stderr:
                problems.append(f"link {link}: {r.stderr.strip()}")
        # Host ends of veth pairs disappear with their namespace peers; make sure.
        for node in self.nodes.values():
            ip("link", "del", f"{self.tag}h{node.name}", check=False)
        self._claim.unlink(missing_ok=True)
        if problems:
            raise NetnsError("netns cleanup left: " + "; ".join(problems))

    def leftovers(self) -> list[str]:
        """Namespaces and interfaces of this Network that still exist (empty after close())."""
        out = []
        names = {line.split()[0] for line in ip("netns", "list", check=False).stdout.splitlines() if line.split()}
        out += [n.ns for n in self.nodes.values() if n.ns in names]
        links = json.loads(ip("-j", "link", "show", check=False).stdout or "[]")
        out += [link["ifname"] for link in links if link.get("ifname", "").startswith(self.tag)]
        if self._claim.exists():
            out.append(str(self._claim))
        return out


@atexit.register
def _close_all() -> None:
    for n in list(_open):
        try:
            n.close()
        except NetnsError:
            pass


def probe() -> str | None:
    """None when namespaces, veth pairs and a bridge can be made here and a cut holds;
    otherwise the reason (for a skip message)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN and CAP_SYS_ADMIN); not running as root"
    try:
        subprocess.run(["ip", "-V"], capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        return f"iproute2 `ip` is not usable: {e}"
    try:
        sweep_stale()
        with Network() as net:
            a = net.add_node("p")
            net.cut(a)
            net.heal(a)
            r = net.run(a, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], timeout=10)
            if a.addr not in r.stdout:
                return f"a process in namespace {a.ns} does not see its address {a.addr}: {r.stdout!r} {r.stderr!r}"
    except (NetnsError, OSError, subprocess.SubprocessError) as e:
        return f"cannot build a network-namespace test network: {e}"
    return None
