"""The appliance's disk, as far as ``systemfile`` reaches.

A real appliance keeps /nsconfig/ssl on its disk: an uploaded file survives a reboot whether
or not the config was saved. The lab keeps files under ``<state-dir>/files`` likewise.
"""

from __future__ import annotations

from pathlib import Path

SSL_DIR = "/nsconfig/ssl/"


class FileStore:
    """The appliance's file system, as far as systemfile reaches: absolute path → bytes."""

    def __init__(self, root: Path | None):
        self.root = root
        self.files: dict[str, bytes] = {}
        if root is not None:
            for path in root.rglob("*"):
                if path.is_file():
                    self.files["/" + path.relative_to(root).as_posix()] = path.read_bytes()

    def write(self, path: str, data: bytes) -> None:
        self.files[path] = data
        if self.root is not None:
            target = self.root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)

    def delete(self, path: str) -> None:
        self.files.pop(path, None)
        if self.root is not None:
            (self.root / path.lstrip("/")).unlink(missing_ok=True)

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)


def ssl_path(name: str) -> str:
    return name if name.startswith("/") else SSL_DIR + name
