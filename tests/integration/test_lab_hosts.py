"""Test hosts in network namespaces (``adcml lab hosts``): ssh into each at its own address,
private install paths, the daemonless systemctl running a real unit reached over the bridge, no
route off the hosts' network, Ansible over ssh, the lab ADC's data plane reaching them (and
nothing else), idempotent ``up`` and a ``down`` that leaves nothing behind.

Every set of hosts here has its own bridge and network (from the process id, checked against
what the machine uses), so a developer's ``adcml lab hosts`` on the defaults is left alone.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from ansible_harness import AnsibleProject
from dataplane_kit import free_port, wait_until
from process_kit import ADCML, adcml, alive, processes_mentioning

from adcml.gateway import converge, load_spec
from adcml.lab.emulators.adc.dataplane.reach import UNREACHABLE, AddressPolicy
from adcml.lab.orchestrator.errors import TestHostsError
from adcml.lab.orchestrator.hosts import TestHosts, created_networks
from adcml.lab.orchestrator.netns import networks_in_use
from adcml.nitro import NitroClient

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="test hosts need root (network namespaces, "
                                                           "a bridge, bind mounts); run the tests as root")]

OUTSIDE = "192.0.2.1"  # never sent to: the hosts have no route there, the lab ADC's policy refuses it
# What the roles write, each host's own (and /run, the systemctl's state: see the systemctl test).
ROLE_PATHS = ["/opt/adcml", "/etc/adcml", "/etc/systemd/system", "/var/lib/adcml", "/var/log/adcml",
              "/var/log/journal"]


def free_network() -> str:
    """A /24 in 10.231.128.0/17 that no interface or route of this machine uses."""
    used = [net for _, net in networks_in_use()]
    for i in range(128):
        candidate = ipaddress.IPv4Network(f"10.231.{128 + (os.getpid() + i) % 128}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return str(candidate)
    raise AssertionError("no free test network in 10.231.128.0/17")


def bridge_name(tag: str) -> str:
    return f"adcml{tag}{os.getpid() % 10000}"


def on(hosts: TestHosts, name: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``script`` on host ``name`` over ssh, with the lab's key and known_hosts."""
    proc = subprocess.run(hosts.ssh_argv(name, script), capture_output=True, text=True, timeout=60,
                          check=False)
    if check:
        assert proc.returncode == 0, f"on {name}: {script}\n{proc.stdout}\n{proc.stderr}"
    return proc


def address(hosts: TestHosts, name: str) -> str:
    return next(h.address for h in hosts.hosts() if h.name == name)


def namespace_pids(namespace: str) -> set[int]:
    out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=True)
    return {int(p) for p in out.stdout.split()}


def start_web_unit(hosts: TestHosts, name: str, unit: str, port: int, text: str) -> str:
    """A unit on host ``name`` serving ``text`` at /hello.txt, and /health for the ADC's monitor
    (python -m http.server on the host's address), started with the host's systemctl; returns
    the URL of /hello.txt."""
    ip = address(hosts, name)
    on(hosts, name, f"""set -e
echo {text} > /var/lib/adcml/hello.txt
echo ok > /var/lib/adcml/health
cat > /etc/systemd/system/{unit}.service <<EOF
[Unit]
Description=adcml test web server
[Service]
ExecStart=/usr/bin/python3.11 -m http.server --bind {ip} {port} --directory /var/lib/adcml
[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload 2>/dev/null
systemctl start {unit}
""")
    url = f"http://{ip}:{port}/hello.txt"
    wait_until(lambda: _get(url) == text, timeout=10)
    return url


def _get(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=1).text.strip()
    except httpx.HTTPError:
        return None


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> Iterator[TestHosts]:
    """Hosts a and b, up for the whole module; down at the end, whatever happened."""
    lab = TestHosts(tmp_path_factory.mktemp("hosts"), network=free_network(), bridge=bridge_name("t"))
    try:
        lab.up(["a", "b"], echo=lambda _: None)
        yield lab
    finally:
        lab.down(echo=lambda _: None)


def test_each_host_is_reached_over_ssh_at_its_own_address(hosts, tmp_path):
    a, b = address(hosts, "a"), address(hosts, "b")
    assert (a, b) == (str(hosts.network.network_address + 11), str(hosts.network.network_address + 12))
    for name, mine, other in (("a", a, b), ("b", b, a)):
        out = on(hosts, name, "hostname; ip -4 -o addr show").stdout
        assert out.splitlines()[0] == name
        assert f"inet {mine}/24" in out and other not in out and "inet 127.0.0.1/8" in out
    # Strict host key checking: a known_hosts without the host's key refuses it.
    empty = tmp_path / "known_hosts"
    empty.touch()
    argv = hosts.ssh_argv("a", "true")
    argv[argv.index(f"UserKnownHostsFile={hosts.known_hosts}")] = f"UserKnownHostsFile={empty}"
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr
    # Root logs in by the lab's key only.
    other_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    argv = hosts.ssh_argv("a", "true")
    argv[argv.index(str(hosts.client_key))] = str(other_key)
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr


def test_up_again_leaves_running_hosts_as_they_are(hosts):
    before = hosts.hosts()
    files = hosts.known_hosts.read_text(), hosts.inventory.read_text()
    assert hosts.up(["b", "a"], echo=lambda _: None) == [before[1], before[0]]
    assert TestHosts(hosts.dir).hosts() == before  # same sshd pids and start times
    assert (hosts.known_hosts.read_text(), hosts.inventory.read_text()) == files
    assert all(hosts.running(h) for h in before)


def test_install_paths_are_private_to_each_host(hosts):
    marks = "; ".join(f"echo from-a > {p}/mark" for p in ROLE_PATHS)
    on(hosts, "a", f"set -e; {marks}")
    seen_by_b = on(hosts, "b", "; ".join(f"ls -A {p}" for p in ROLE_PATHS)).stdout
    assert seen_by_b.strip() == ""  # b's own, still empty
    for path in ROLE_PATHS:
        assert not Path(path, "mark").exists(), f"{path}/mark leaked into the root namespace"
        assert (hosts.private_dir("a", path) / "mark").read_text() == "from-a\n"
    # /opt itself is shared: the offline packages the roles install from stay visible.
    assert on(hosts, "b", "ls /opt").stdout.split() == sorted(p.name for p in Path("/opt").iterdir())


def test_systemctl_in_a_host_is_the_daemonless_one_and_runs_a_unit(hosts):
    assert Path("/usr/bin/systemctl").read_bytes()[:4] == b"\x7fELF"  # the machine's own, untouched
    version = on(hosts, "a", "head -c 2 /usr/bin/systemctl; echo; systemctl --version").stdout
    assert version.startswith("#!\n") and "systemctl.py" in version
    url = start_web_unit(hosts, "a", "web", 8000, "served-from-a")
    assert on(hosts, "a", "systemctl is-active web").stdout.strip() == "active"
    # The unit's process is host a's: in its network namespace (and reached from the root
    # namespace through the bridge, above); host b knows no such unit.
    in_a = namespace_pids(f"{hosts.bridge}-a")
    assert [pid for pid, _ in processes_mentioning("http.server --bind") if pid in in_a]
    assert on(hosts, "b", "systemctl is-active web", check=False).stdout.strip() != "active"
    assert on(hosts, "b", "ls -A /etc/systemd/system").stdout.strip() == ""
    on(hosts, "a", "systemctl stop web")
    assert on(hosts, "a", "systemctl is-active web", check=False).stdout.strip() == "inactive"
    wait_until(lambda: _get(url) is None, timeout=5)


def test_a_host_has_no_route_off_its_network(hosts):
    routes = on(hosts, "a", "ip -4 route").stdout.splitlines()
    assert [r.split()[:3] for r in routes] == [[str(hosts.network), "dev", "eth0"]]  # no default route
    # Only now that no route is certain: a connect off the network fails at once, unsent.
    probe = "\n".join([
        "import socket, errno",
        "s = socket.socket()",
        "s.settimeout(3)",
        "try:",
        f"    s.connect(({OUTSIDE!r}, 9))",
        "except OSError as e:",
        "    print(errno.errorcode[e.errno])",
        f"c = socket.create_connection(({address(hosts, 'b')!r}, 22), timeout=3)",
        "print(c.recv(4))",
    ])
    out = on(hosts, "a", f"python3.11 -c {shlex.quote(probe)}").stdout.split()
    assert out == ["ENETUNREACH", "b'SSH-'"]  # and the other test host is reachable


def test_ansible_pings_the_hosts_over_ssh(hosts, tmp_path):
    inventory = yaml.safe_load(hosts.inventory.read_text())
    group = inventory["all"]["children"]["model_servers"]
    assert group["hosts"] == {"a": {"ansible_host": address(hosts, "a")},
                              "b": {"ansible_host": address(hosts, "b")}}
    assert group["vars"]["ansible_python_interpreter"] == "/usr/bin/python3.11"
    assert f"UserKnownHostsFile={hosts.known_hosts}" in group["vars"]["ansible_ssh_common_args"]
    run = AnsibleProject(tmp_path, nsip=None).command("ansible", "-i", str(hosts.inventory), "all",
                                                      "-m", "ping")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "a | SUCCESS" in run.stdout and "b | SUCCESS" in run.stdout and run.stdout.count('"pong"') == 2


def test_the_lab_adc_reaches_the_hosts_network_and_nothing_else(hosts, tmp_path):
    assert created_networks(hosts.dir) == [str(hosts.network)]
    assert not AddressPolicy().allows(address(hosts, "b"))  # without --test-hosts: loopback only
    start_web_unit(hosts, "b", "model", 8001, "served-from-b")
    nitro = f"127.0.0.1:{free_port('127.0.0.1')}"
    adc = subprocess.Popen([str(ADCML), "lab-adc", "--listen", nitro, "--state-dir", str(tmp_path / "adc"),
                            "--data-plane", "--test-hosts", str(hosts.dir)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _get(f"http://{nitro}/lab/health") is not None, timeout=15)
        vip = "127.0.7.10"
        port = free_port(vip)
        in_b = {"host": address(hosts, "b"), "port": 8001}
        spec = load_spec({"name": "hosts", "frontend": {"vip": vip, "port": port, "protocol": "http"},
                          "pools": [{"name": "local", "members": [in_b]},
                                    {"name": "outside", "members": [{"host": OUTSIDE, "port": 8001}],
                                     "match": {"path_prefix": "/outside"}}],
                          "default_pool": "local"})
        with NitroClient(nsip=nitro, username="nsroot", password="nsroot", protocol="http") as client:
            converge(client, spec)

        def members() -> dict[str, dict] | None:
            plane = httpx.get(f"http://{nitro}/lab/dataplane", timeout=5).json()
            found = {m["ip"]: m for m in plane["members"]}
            return found if found.get(address(hosts, "b"), {}).get("state") == "UP" else None

        wait_until(members, timeout=20)
        assert httpx.get(f"http://{vip}:{port}/hello.txt", timeout=5).text.strip() == "served-from-b"
        outside = members()[OUTSIDE]
        assert outside["state"] == "DOWN" and outside["unreachable"] == UNREACHABLE
        assert httpx.get(f"http://{vip}:{port}/outside/x", timeout=5).status_code == 503
        assert members()[OUTSIDE]["requests"] == 0
    finally:
        adc.terminate()
        adc.wait(10)


def test_cli_up_is_idempotent_and_down_leaves_nothing(tmp_path):
    directory, network, bridge = tmp_path / "hosts", free_network(), bridge_name("u")
    running: set[int] = set()
    try:
        started = time.monotonic()
        up = adcml("lab", "hosts", "up", "c", "d", "--dir", str(directory), "--network", network,
                   "--bridge", bridge, "--group", "gpu_hosts")
        took = time.monotonic() - started
        assert up.returncode == 0, up.stdout + up.stderr
        assert "c            started" in up.stdout and took < 10
        lab = TestHosts(directory)
        first = lab.hosts()
        status = adcml("lab", "hosts", "status", "--dir", str(directory))
        assert status.returncode == 0 and status.stdout.count("ssh ok") == 2, status.stdout
        assert "gpu_hosts" in yaml.safe_load(lab.inventory.read_text())["all"]["children"]

        again = adcml("lab", "hosts", "up", "c", "d", "--dir", str(directory))
        assert again.returncode == 0 and again.stdout.count("already running") == 2
        assert TestHosts(directory).hosts() == first
        moved = adcml("lab", "hosts", "up", "c", "--dir", str(directory), "--network", free_network())
        assert moved.returncode == 1 and "down" in moved.stderr

        # A host whose sshd died is made anew by the next up, empty again.
        on(lab, "c", "touch /opt/adcml/old")
        os.kill(first[0].pid, signal.SIGKILL)
        wait_until(lambda: not lab.running(first[0]), timeout=5)
        assert adcml("lab", "hosts", "status", "--dir", str(directory)).returncode == 1
        assert adcml("lab", "hosts", "up", "c", "--dir", str(directory)).returncode == 0
        assert TestHosts(directory).hosts()[0].pid != first[0].pid
        assert on(lab, "c", "ls -A /opt/adcml").stdout == ""

        start_web_unit(lab, "d", "web", 8002, "served-from-d")  # a service, for down to stop
        running = namespace_pids(f"{bridge}-c") | namespace_pids(f"{bridge}-d")
        assert len(running) >= 3
    finally:
        down = adcml("lab", "hosts", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stdout + down.stderr
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert f"{bridge}-" not in names
    assert not [link for link in os.listdir("/sys/class/net") if link.startswith(bridge)]
    assert processes_mentioning(str(directory)) == [] and not [pid for pid in running if alive(pid)]
    assert not (directory / "hosts.json").exists() and not (directory / "inventory.yml").exists()
    assert adcml("lab", "hosts", "down", "--dir", str(directory)).returncode == 0  # again: nothing to do
    assert adcml("lab", "hosts", "status", "--dir", str(directory)).returncode == 1
    refused = adcml("lab-adc", "--data-plane", "--test-hosts", str(directory), timeout=20)
    assert refused.returncode == 1 and "no test hosts are up" in refused.stderr  # usage errors exit 1


@pytest.fixture
def foreign_namespace() -> Iterator[str]:
    """A network namespace the test hosts did not create, named as one of theirs would be."""
    bridge = bridge_name("v")
    name = f"{bridge}-x"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield bridge
    subprocess.run(["ip", "netns", "del", name], check=False)


def test_up_refuses_a_namespace_it_did_not_create_and_leaves_it(foreign_namespace, tmp_path):
    lab = TestHosts(tmp_path / "hosts", network=free_network(), bridge=foreign_namespace)
    taken = f"namespace named {foreign_namespace}-x exists .* did not create"
    with pytest.raises(TestHostsError, match=taken):
        lab.up(["x"], echo=lambda _: None)
    assert Path("/run/netns", f"{foreign_namespace}-x").exists()
    assert not Path("/sys/class/net", foreign_namespace).exists()  # the bridge it made is gone again
    assert not lab.state_file.exists()
