"""What a command sends to syslog, read from a real syslog socket.

Ansible modules log their invocation (``Invoked with ...``) through glibc's ``syslog()``, which
writes datagrams to the fixed path ``/dev/log`` (journald's ``systemd.journal.send`` when the
``systemd`` Python package imports and systemd booted the machine; neither is the case here).
This machine has no ``/dev/log``, and a test must not create one for every process on it. So
the command runs in a private mount namespace (``unshare --mount``) whose ``/dev`` is a small
tmpfs holding links to the real ``/dev`` entries plus ``log``, a link to a unix datagram socket
that this object owns and reads. Nothing outside the command sees any of it, and it all
vanishes with the command's last process.

    with SyslogCapture() as syslog:
        run = project.playbook("site.yml", prefix=syslog.prefix)
    assert "Invoked with" in syslog.text()

Needs root (to mount); nothing here depends on pytest.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from pathlib import Path

# $1: where the real /dev stays reachable inside the namespace; $2: our socket; then the command.
_ENTER = r"""
set -eu
real=$1 sock=$2
shift 2
mkdir -p "$real"
mount --rbind /dev "$real"
mount -t tmpfs -o mode=0755,size=64k adcml-syslog-dev /dev
for entry in "$real"/* "$real"/.[!.]*; do
  if [ -e "$entry" ] || [ -L "$entry" ]; then ln -s "$entry" /dev/; fi
done
ln -s "$sock" /dev/log
exec "$@"
"""


class SyslogCapture:
    """A syslog socket of our own, and the command prefix that puts it at ``/dev/log``."""

    def __init__(self) -> None:
        # A short directory: a unix socket's path is limited to 107 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="adcml-syslog-"))
        self.socket_path = self.dir / "log"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.socket_path))
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._sock.settimeout(0.1)
        self._messages: list[str] = []
        self._stopping = threading.Event()
        # A reader thread, not a read after the fact: the kernel queues only a few datagrams
        # (net.unix.max_dgram_qlen), and a module whose syslog() blocks would hang the run.
        self._reader = threading.Thread(target=self._read, name="syslog-capture", daemon=True)
        self._reader.start()

    @property
    def prefix(self) -> list[str]:
        """Put before a command to run it with this capture as its ``/dev/log``."""
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _ENTER,
                "adcml-syslog", str(self.dir / "dev"), str(self.socket_path)]

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 20)
            except TimeoutError:
                if self._stopping.is_set():  # stopped, and nothing was left queued
                    return
                continue
            except OSError:
                return
            self._messages.append(data.decode("utf-8", "replace"))

    def close(self) -> None:
        """Read what is still queued, then release the socket and the directory."""
        if not self._stopping.is_set():
            self._stopping.set()
            self._reader.join(timeout=30)
            self._sock.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def messages(self) -> list[str]:
        """Every message received (call after the command has finished, or after close)."""
        return list(self._messages)

    def text(self) -> str:
        return "\n".join(self._messages)

    def __enter__(self) -> SyslogCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
