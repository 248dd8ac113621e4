"""Test hosts: Linux hosts on this machine for running the Ansible roles over ssh.

Each host is a network namespace (``<bridge>-<name>``) with its own address on a bridge in the
root namespace (``adcmlbr0``, address .1 of the network; hosts .11, .12, …), loopback up and no
route anywhere else, and an sshd of its own that runs in a private mount namespace where:

- the paths the roles write (``PRIVATE_PATHS``) are the host's own, initially empty directories
  (``<dir>/hosts/<name>/private/...``), bind-mounted, so hosts never see each other's installs;
- ``/usr/bin/systemctl`` is the daemonless one (docker-systemctl-replacement), bind-mounted in
  that namespace only: units written to the host's ``/etc/systemd/system`` start and stop for
  real, as processes of that host (its network, its paths);
- the hostname is the host's name (a UTS namespace).

Root logs in by key only (``<dir>/id_ed25519``); ``<dir>/known_hosts`` holds every host's key
for strict host key checking, ``<dir>/inventory.yml`` is the Ansible inventory, and
``<dir>/hosts.json`` records everything ``up`` created, which is exactly what ``down`` removes:
the processes in each namespace, the namespaces, veths and bridge, the private directories,
and the mount points it had to create. Nothing it did not create is touched: a name already
taken by something else makes ``up`` refuse.

>>> hosts = TestHosts(".lab/hosts")                                   # doctest: +SKIP
>>> [h.address for h in hosts.up(["gpu-1", "gpu-2"])]                 # doctest: +SKIP
['10.231.0.11', '10.231.0.12']
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from adcml.lab.orchestrator import netns
from adcml.lab.orchestrator.errors import TestHostsError
from adcml.lab.orchestrator.netns import MOUNTPOINT_MARK, SSH_PORT
from adcml.lab.orchestrator.processes import log_tail, proc_stat

DEFAULT_NETWORK = "10.231.0.0/24"
DEFAULT_BRIDGE = "adcmlbr0"
DEFAULT_GROUP = "model_servers"
FIRST_HOST = 11  # host addresses are network + 11, + 12, …; + 1 is the bridge
SSHD = "/usr/sbin/sshd"
PYTHON = "/usr/bin/python3.11"  # the hosts' Python: Ansible's interpreter, and the systemctl's
SYSTEMCTL = "/usr/bin/systemctl"
# Each host's own (empty at first) directory over each of these. /run holds the daemonless
# systemctl's state (unit status files, notify socket) and sshd's privilege separation
# directory; /var/log/journal the systemctl's per-unit logs. /opt itself stays shared: the
# roles install from the offline packages in /opt/wheels and /opt/pypi.
PRIVATE_PATHS = ("/opt/adcml", "/etc/adcml", "/etc/systemd/system", "/var/lib/adcml", "/var/log/adcml",
                 "/var/log/journal", "/run")
PRIVATE_DIR = "private"  # <dir>/<name>/private/<path>: what the host sees at <path>
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_BRIDGE = re.compile(r"[a-z][a-z0-9]{0,9}")  # + "-NNNN" for its veths: 15 characters at most
_GROUP = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Host:
    """One test host: where it is and the sshd that makes it one."""

    name: str
    address: str
    namespace: str
    veth: str  # the root namespace's end of its link to the bridge (eth0 in the host)
    pid: int | None = None  # its sshd
    start: str | None = None  # that process's start time, so a recycled pid is never taken for it


# --- preconditions ---------------------------------------------------------------------------
def _systemctl_script() -> Path:
    spec = importlib.util.find_spec("systemctl2.systemctl3")
    if spec is None or spec.origin is None:
        raise TestHostsError("the daemonless systemctl is not installed: pip install "
                             "docker-systemctl-replacement (part of adcml's dev extra; make setup)")
    return Path(spec.origin)


def preflight() -> None:
    """Raise TestHostsError naming what is missing for test hosts on this machine."""
    netns.require_root()
    netns.require_tools([("unshare", "util-linux"), ("mount", "mount"), ("ssh-keygen", "openssh-client"),
                    ("ssh", "openssh-client"), ("hostname", "hostname")])
    if not os.access(SSHD, os.X_OK):
        raise TestHostsError(f"{SSHD} not found: apt-get install openssh-server (make setup "
                             "installs it; no system sshd is started or needed)")
    if not os.access(PYTHON, os.X_OK):
        raise TestHostsError(f"{PYTHON} not found (the hosts' Python, for Ansible and systemctl): "
                             "apt-get install python3.11")
    _systemctl_script()


def _check_network(network: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(network)
    except ValueError as exc:
        raise TestHostsError(f"network {network!r}: {exc}; give an IPv4 CIDR such as "
                             f"{DEFAULT_NETWORK}") from None
    if not net.is_private or net.is_loopback or net.is_link_local or not 20 <= net.prefixlen <= 28:
        raise TestHostsError(f"network {network}: give a private IPv4 network from /20 to /28 "
                             f"(e.g. {DEFAULT_NETWORK}) that nothing else on this machine uses")
    return net


# --- the test hosts -------------------------------------------------------------------------
class TestHosts:
    """The test hosts recorded in ``directory``.

    ``network``, ``bridge`` and ``group`` default to what the hosts running there were started
    with, else ``10.231.0.0/24``, ``adcmlbr0`` and ``model_servers``. Namespaces are named
    ``<bridge>-<host>``, so two sets of hosts with different bridges never meet.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path | str, network: str | None = None, bridge: str | None = None,
                 group: str | None = None):
        self.dir = Path(directory).absolute()
        self._state = self._load()
        self.network = _check_network(network or self._state.get("network") or DEFAULT_NETWORK)
        self.bridge = bridge or self._state.get("bridge") or DEFAULT_BRIDGE
        self.group = group or self._state.get("group") or DEFAULT_GROUP
        if not _BRIDGE.fullmatch(self.bridge):
            raise TestHostsError(f"bridge {self.bridge!r}: 1 to 10 lowercase letters and digits, "
                                 "starting with a letter")
        if not _GROUP.fullmatch(self.group):
            raise TestHostsError(f"group {self.group!r}: an Ansible group name (letters, digits, _)")

    # paths
    @property
    def state_file(self) -> Path:
        return self.dir / "hosts.json"

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.dir / "id_ed25519"

    def host_dir(self, name: str) -> Path:
        return self.dir / "hosts" / name

    def private_dir(self, name: str, path: str) -> Path:
        """The directory that is ``path`` inside host ``name``."""
        return self.host_dir(name) / PRIVATE_DIR / path.strip("/")

    @property
    def gateway(self) -> str:
        """The bridge's address: the root namespace as the hosts see it."""
        return str(self.network.network_address + 1)

    # state
    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise TestHostsError(f"{self.state_file} is not valid JSON ({exc}); it records what "
                                 "to tear down, so repair it rather than delete it") from None

    def _save(self) -> None:
        self._state.update(network=str(self.network), bridge=self.bridge, group=self.group)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def hosts(self) -> list[Host]:
        """The hosts recorded, running or not."""
        return [Host(**h) for h in self._state.get("hosts", [])]

    def _record(self, host: Host) -> None:
        rows = [h for h in self._state.setdefault("hosts", []) if h["name"] != host.name]
        rows.append(asdict(host))
        self._state["hosts"] = sorted(rows, key=lambda h: ipaddress.IPv4Address(h["address"]))
        self._save()

    def _forget(self, name: str) -> None:
        self._state["hosts"] = [h for h in self._state.get("hosts", []) if h["name"] != name]
        self._save()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One ``up`` or ``down`` at a time per directory."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._state = self._load()
            yield

    def running(self, host: Host) -> bool:
        """Its namespace exists and its sshd (this very process) runs in it."""
        if host.pid is None or not netns.namespace_exists(host.namespace):
            return False
        stat = proc_stat(host.pid)
        return (stat is not None and stat[0] not in "ZX" and stat[1] == host.start
                and netns.in_namespace(host.pid, host.namespace))

    # --- up -------------------------------------------------------------------------------------
    def up(self, names: Sequence[str], timeout: float = 15.0,
           echo: Callable[[str], None] = print) -> list[Host]:
        """Bring up the hosts ``names`` (those already running are left as they are); writes the
        inventory and known_hosts for every host recorded. Returns the hosts asked for. On a
        failure, what this call created is removed again."""
        preflight()
        names = list(dict.fromkeys(names))
        if not names:
            raise TestHostsError("name at least one host")
        for name in names:
            if not _NAME.fullmatch(name):
                raise TestHostsError(f"host name {name!r}: lowercase letters, digits and '-', "
                                     "starting with a letter, 31 characters at most")
        with self._locked():
            self._check_same_lab()
            created: list[str] = []
            try:
                self._ensure_bridge()
                self._ensure_client_key()
                self._ensure_mountpoints()
                self._install_systemctl()
                for name in names:
                    known = self._host(name)
                    if known is not None and self.running(known):
                        echo(f"{name:<12} already running  {known.address}  sshd pid {known.pid}")
                        continue
                    if known is not None:  # recorded but broken: make it anew
                        self._remove_host(known)
                    created.append(name)
                    self._create_host(name)
                self._wait_for_ssh([self._host(n) for n in created], timeout)
            except BaseException:
                for name in reversed(created):
                    if (known := self._host(name)) is not None:
                        self._remove_host(known)
                if not self.hosts():
                    self._remove_shared(echo=lambda _: None)
                raise
            for name in created:
                host = self._host(name)
                echo(f"{name:<12} started          {host.address}  sshd pid {host.pid}")
            self._write_client_files()
            return [self._host(n) for n in names]

    def _check_same_lab(self) -> None:
        recorded = self._state.get("network"), self._state.get("bridge")
        live = self._state.get("hosts") or self._state.get("bridge_created")
        if live and recorded != (str(self.network), self.bridge):
            raise TestHostsError(f"the test hosts in {self.dir} run on network {recorded[0]} with "
                                 f"bridge {recorded[1]}; run `adcml lab hosts down --dir {self.dir}` "
                                 "first to move them")

    def _ensure_bridge(self) -> None:
        """Create the bridge unless ours exists."""
        if netns.link_exists(self.bridge):
            if self.bridge_created == self.bridge:
                return
            raise TestHostsError(f"a network interface named {self.bridge} exists and the test hosts in "
                                 f"{self.dir} did not create it; choose another bridge (--bridge)")
        for link, used in netns.networks_in_use():
            if used.overlaps(self.network):
                raise TestHostsError(f"network {self.network} overlaps {used} on {link}; choose "
                                     "another (--network)")
        netns.ip("link", "add", self.bridge, "type", "bridge")
        self._state["bridge_created"] = self.bridge
        self._save()
        # Belt and braces with no route out of the hosts: nothing arriving on the bridge is
        # forwarded elsewhere, whatever a host's root does to its routes; no IPv6 chatter.
        netns.write_proc_sys(f"net/ipv4/conf/{self.bridge}/forwarding", "0")
        with contextlib.suppress(FileNotFoundError):  # a kernel without IPv6
            netns.write_proc_sys(f"net/ipv6/conf/{self.bridge}/disable_ipv6", "1")
        netns.ip("addr", "add", f"{self.gateway}/{self.network.prefixlen}", "dev", self.bridge)
        netns.ip("link", "set", self.bridge, "up")

    @property
    def bridge_created(self) -> str | None:
        """The bridge ``up`` created (and ``down`` removes), if any."""
        return self._state.get("bridge_created")

    def _remove_shared(self, echo: Callable[[str], None]) -> None:
        """Once no host is left: the bridge, the mount points, and the files naming the hosts."""
        if self.bridge_created:
            if netns.link_exists(self.bridge_created):
                netns.ip("link", "del", self.bridge_created)
            echo(f"bridge {self.bridge_created} removed")
        made = [p for p in PRIVATE_PATHS if p in self._state.get("mountpoints", []) or netns.marked(p)]
        for path in made:
            echo(f"mount point {path}: {netns.remove_mountpoint(path)}")
        for path in (self.state_file, self.inventory, self.known_hosts):
            path.unlink(missing_ok=True)
        self._state = {}

    def _ensure_client_key(self) -> None:
        if not self.client_key.exists():
            netns.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"adcml test hosts {self.dir}",
                 "-f", str(self.client_key))

    def _ensure_mountpoints(self) -> None:
        """A bind mount needs a directory to mount on: make the missing ones (empty), recorded
        here and marked on the directory itself, so that whichever hosts' ``down`` comes last
        removes them again."""
        made = self._state.setdefault("mountpoints", [])
        for path in PRIVATE_PATHS:
            if not Path(path).exists():
                Path(path).mkdir()
                with contextlib.suppress(OSError):  # a file system without user xattrs: recorded only
                    os.setxattr(path, MOUNTPOINT_MARK, b"made by adcml lab hosts up")
                made.append(path)
                self._save()

    def _install_systemctl(self) -> None:
        """``<dir>/bin/systemctl``: the daemonless systemctl run by the hosts' Python. Rewritten
        in place only when it changed (it is bind-mounted in running hosts)."""
        target = self.dir / "bin" / "systemctl"
        source = _systemctl_script().read_text().split("\n", 1)[1]
        text = f"#!{PYTHON}\n{source}"
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
        target.chmod(0o755)

    def _host(self, name: str) -> Host | None:
        return next((h for h in self.hosts() if h.name == name), None)

    def _free_address(self) -> str:
        taken = {h.address for h in self.hosts()}
        for address in self.network.hosts():
            if int(address) - int(self.network.network_address) >= FIRST_HOST and str(address) not in taken:
                return str(address)
        raise TestHostsError(f"network {self.network} has no address left for another host "
                             f"(hosts from .{FIRST_HOST}); choose a larger one (--network)")

    def _create_host(self, name: str) -> None:
        address = self._free_address()
        offset = int(ipaddress.IPv4Address(address)) - int(self.network.network_address)
        host = Host(name, address, f"{self.bridge}-{name}", f"{self.bridge}-{offset}")
        if netns.namespace_exists(host.namespace):
            raise TestHostsError(f"a network namespace named {host.namespace} exists and the test "
                                 f"hosts in {self.dir} did not create it; it is left alone: remove it "
                                 "yourself (ip netns del) or choose another bridge or host name")
        if netns.link_exists(host.veth):
            raise TestHostsError(f"a network interface named {host.veth} exists and the test hosts in "
                                 f"{self.dir} did not create it; choose another bridge (--bridge)")
        netns.ip("netns", "add", host.namespace)
        self._record(host)
        # The MAC follows from the address: a host made anew at the same address is reached at
        # once, not after the neighbour caches of the machine and the other hosts expire.
        mac = "02:ad:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)
        netns.ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "address", mac,
            "netns", host.namespace)
        netns.ip("link", "set", host.veth, "master", self.bridge, "up")
        netns.ip("-n", host.namespace, "addr", "add", f"{address}/{self.network.prefixlen}", "dev", "eth0")
        netns.ip("-n", host.namespace, "link", "set", "eth0", "up")
        netns.ip("-n", host.namespace, "link", "set", "lo", "up")
        self._prepare_files(host)
        self._record(self._start_sshd(host))

    def _prepare_files(self, host: Host) -> None:
        hdir = self.host_dir(host.name)
        shutil.rmtree(hdir / PRIVATE_DIR, ignore_errors=True)  # a new host starts empty
        for path in PRIVATE_PATHS:
            self.private_dir(host.name, path).mkdir(parents=True)
        run = self.private_dir(host.name, "/run")
        (run / "sshd").mkdir(mode=0o755)  # sshd's privilege separation directory
        # Ansible's service_mgr fact says "systemd" when this exists, as on a systemd host.
        (run / "systemd" / "system").mkdir(parents=True)
        key = hdir / "ssh_host_ed25519_key"
        if not key.exists():
            netns.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(key))
        (hdir / "sshd_config").write_text("\n".join([
            "# Written by adcml lab hosts up (docs/test-hosts.md).",
            f"ListenAddress {host.address}:{SSH_PORT}",
            "AddressFamily inet",
            f"HostKey {key}",
            f"AuthorizedKeysFile {self.client_key}.pub",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The key files live under the lab's directory, which may sit below a world-writable
            # /tmp (pytest's tmp_path): sshd's path check would refuse them. They are 0600.
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "X11Forwarding no",
            "MaxStartups 50",
            "MaxSessions 50",
            "Subsystem sftp internal-sftp",
            "",
        ]))

    def _start_sshd(self, host: Host) -> Host:
        hdir = self.host_dir(host.name)
        binds = [(self.private_dir(host.name, p), p) for p in PRIVATE_PATHS]
        binds.append((self.dir / "bin" / "systemctl", SYSTEMCTL))
        script = "\n".join([
            *(f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for src, dst in binds),
            "ipv6=/proc/sys/net/ipv6/conf/eth0/disable_ipv6; [ ! -e $ipv6 ] || echo 1 > $ipv6",
            f"hostname {shlex.quote(host.name)}",
            shlex.join(["exec", SSHD, "-D", "-f", str(hdir / "sshd_config"), "-E", str(hdir / "sshd.log")]),
        ])
        # ip netns exec, unshare and sh each exec the next: the pid is sshd's.
        argv = ["ip", "netns", "exec", host.namespace,
                "unshare", "--mount", "--uts", "--propagation", "private", "sh", "-ec", script]
        with open(hdir / "host.log", "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env={"PATH": HOST_PATH, "LANG": "C.UTF-8"}, start_new_session=True,
                                    close_fds=True)
        stat = proc_stat(proc.pid)
        return replace(host, pid=proc.pid, start=stat[1] if stat else None)

    def _wait_for_ssh(self, hosts: Sequence[Host], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for host in hosts:
            while not netns.ssh_banner(host.address):
                if not self.running(host):
                    raise TestHostsError(f"the sshd of {host.name} exited while starting; the end of "
                                         f"{self.host_dir(host.name) / 'host.log'}:\n"
                                         f"{log_tail(self.host_dir(host.name) / 'host.log')}\n"
                                         f"{log_tail(self.host_dir(host.name) / 'sshd.log')}")
                if time.monotonic() > deadline:
                    raise TestHostsError(f"{host.name}: no ssh banner from {host.address}:{SSH_PORT} "
                                         f"within {timeout:g} s; see {self.host_dir(host.name)}/sshd.log")
                time.sleep(0.02)

    def _write_client_files(self) -> None:
        hosts = self.hosts()
        lines = []
        for host in hosts:
            kind, key = (self.host_dir(host.name) / "ssh_host_ed25519_key.pub").read_text().split()[:2]
            lines.append(f"{host.address} {kind} {key}\n")
        self.known_hosts.write_text("".join(lines))
        ssh_args = " ".join(f"-o {o}" for o in self.ssh_options())
        inventory = {"all": {"children": {self.group: {
            "hosts": {h.name: {"ansible_host": h.address} for h in hosts},
            "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(self.client_key),
                     "ansible_ssh_common_args": ssh_args, "ansible_python_interpreter": PYTHON},
        }}}}
        self.inventory.write_text(f"# Written by adcml lab hosts up: the test hosts in {self.dir} "
                                  "(docs/test-hosts.md).\n" + yaml.safe_dump(inventory, sort_keys=False))

    def ssh_options(self) -> list[str]:
        """ssh ``-o`` options for the hosts: the written known_hosts, strictly; the lab's key only."""
        return [f"UserKnownHostsFile={self.known_hosts}", "GlobalKnownHostsFile=/dev/null",
                "StrictHostKeyChecking=yes", "IdentitiesOnly=yes", "BatchMode=yes", "ConnectTimeout=5"]

    def ssh_argv(self, name: str, *command: str) -> list[str]:
        """``ssh`` running ``command`` as root on host ``name``."""
        host = self._host(name)
        if host is None:
            raise TestHostsError(f"no test host {name!r} in {self.dir}")
        options = [arg for option in self.ssh_options() for arg in ("-o", option)]
        return ["ssh", "-i", str(self.client_key), *options, f"root@{host.address}", *command]

    # --- down -----------------------------------------------------------------------------------
    def down(self, echo: Callable[[str], None] = print) -> None:
        """Remove everything ``up`` created here: every process in each host's namespace, the
        namespaces, veths and bridge, the hosts' private directories and the mount points made
        for them. Idempotent; leaves the keys and logs."""
        netns.require_root()
        with self._locked():
            if not self._state:
                echo(f"no test hosts recorded in {self.dir}")
                return
            for host in self.hosts():
                echo(f"{host.name:<12} {self._remove_host(host)}")
            self._remove_shared(echo)

    def _remove_host(self, host: Host) -> str:
        """Stop everything in its namespace, delete the namespace, its veth, its private paths."""
        killed = netns.kill_all(host.namespace) if netns.namespace_exists(host.namespace) else 0
        # The veth first: deleting it takes its peer in the namespace at once, whereas the
        # interfaces of a deleted namespace go away asynchronously.
        if netns.link_exists(host.veth):
            netns.ip("link", "del", host.veth)
        if netns.namespace_exists(host.namespace):
            netns.ip("netns", "del", host.namespace)
        shutil.rmtree(self.host_dir(host.name) / PRIVATE_DIR, ignore_errors=True)
        self._forget(host.name)
        return f"removed (namespace {host.namespace}, {killed} process(es) stopped)"

    # --- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Each recorded host: address, namespace, sshd pid, whether it runs and ssh answers."""
        netns.require_root()
        rows = []
        for host in self.hosts():
            running = self.running(host)
            answers = running and self.ssh_answers(host.name)
            rows.append(asdict(host) | {"running": running, "ssh": answers})
        return {"dir": str(self.dir), "network": str(self.network), "bridge": self.bridge,
                "group": self.group, "inventory": str(self.inventory), "hosts": rows,
                "healthy": bool(rows) and all(r["ssh"] for r in rows)}

    def ssh_answers(self, name: str) -> bool:
        """A real login: ssh with the lab's key and known_hosts runs ``true``."""
        try:
            proc = subprocess.run(self.ssh_argv(name, "true"), capture_output=True, timeout=10, check=False)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0


def created_networks(directory: Path | str) -> list[str]:
    """The networks the test hosts in ``directory`` created, for the lab ADC's AddressPolicy:
    only while they are up (their bridge, made by them, carries the network's first address)."""
    netns.require_tools([("ip", "iproute2")])
    hosts = TestHosts(directory)
    bridge = hosts.bridge_created
    if not bridge:
        raise TestHostsError(f"no test hosts are up in {hosts.dir} (no {hosts.state_file} with a bridge); "
                             f"run `adcml lab hosts up NAME... --dir {hosts.dir}` first")
    proc = netns.ip("-j", "-4", "addr", "show", "dev", bridge, check=False)
    links = json.loads(proc.stdout or "[]") if proc.returncode == 0 else []
    addresses = {f"{a['local']}/{a['prefixlen']}" for link in links for a in link.get("addr_info", [])}
    if f"{hosts.gateway}/{hosts.network.prefixlen}" not in addresses:
        raise TestHostsError(f"the test hosts in {hosts.dir} are not up: bridge {bridge} does not carry "
                             f"{hosts.gateway}/{hosts.network.prefixlen}; run `adcml lab hosts up` again")
    return [str(hosts.network)]


__all__ = ["DEFAULT_BRIDGE", "DEFAULT_GROUP", "DEFAULT_NETWORK", "PRIVATE_PATHS", "Host", "TestHosts",
           "created_networks", "preflight"]
