"""A simulated remote site using the ``filedrop`` folders over a poor link.

What the site does, including what goes wrong at such sites:

* :meth:`SiteSimulator.drop_slowly` — a careless sender writes a package straight into
  ``outbox/`` in chunks with pauses (no temporary name), so the adapter sees it half-written
  for a while; :meth:`drop_atomic` — a careful sender writes ``.name.tmp`` then renames;
  :meth:`drop_interrupted` — a sync tool (rsync-like) is cut off mid-copy, leaving its
  temporary ``.name.XXXXXX`` behind, and finishes the copy later.
* :meth:`start_reader` — the site's software reads ``inbox/*.xml`` continuously while packages
  arrive, recording every file exactly as it read it, so a test can prove it never saw a
  partial file.

Not imitated: network file systems (SMB/NFS rename semantics, clock skew between hosts), disk
full, removable media, anti-virus locking files, Windows file locks.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["SiteSimulator"]


class SiteSimulator:
    """The site's side of the folders under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outbox = root / "outbox"
        self.inbox = root / "inbox"
        for folder in (self.outbox, self.inbox):
            folder.mkdir(parents=True, exist_ok=True)
        self.read: dict[str, bytes] = {}
        self.partial_reads: list[str] = []
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    # ------------------------------------------------------------------ sending

    def drop_atomic(self, name: str, data: bytes) -> Path:
        """Write ``.name.tmp`` then rename: the careful way."""
        tmp = self.outbox / f".{name}.tmp"
        tmp.write_bytes(data)
        final = self.outbox / name
        tmp.rename(final)
        return final

    def drop_slowly(
        self, name: str, data: bytes, *, chunks: int = 4, pause: float = 0.2
    ) -> threading.Thread:
        """Write straight into ``outbox/name`` in ``chunks`` with pauses (in a thread)."""

        def write() -> None:
            step = max(1, len(data) // chunks)
            with open(self.outbox / name, "wb") as fh:
                for start in range(0, len(data), step):
                    fh.write(data[start : start + step])
                    fh.flush()
                    time.sleep(pause)

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        return thread

    def drop_interrupted(self, name: str, data: bytes, fraction: float = 0.5) -> Path:
        """A sync tool cut off mid-copy: its temporary file holds part of the data."""
        tmp = self.outbox / f".{name}.Xa81Qz"
        tmp.write_bytes(data[: int(len(data) * fraction)])
        return tmp

    def resume_interrupted(self, tmp: Path, name: str, data: bytes) -> Path:
        """The link comes back: the tool finishes the copy and renames into place."""
        tmp.write_bytes(data)
        final = self.outbox / name
        os.replace(tmp, final)
        return final

    # ------------------------------------------------------------------ receiving

    def start_reader(self, expected: dict[str, bytes], interval: float = 0.001) -> None:
        """Read every ``inbox/*.xml`` as soon as it appears; compare with ``expected``."""

        def loop() -> None:
            while not self._stop.is_set():
                for path in self.inbox.glob("*.xml"):
                    if path.name in self.read:
                        continue
                    data = path.read_bytes()
                    self.read[path.name] = data
                    if expected.get(path.name) != data:
                        self.partial_reads.append(path.name)
                time.sleep(interval)

        self._reader = threading.Thread(target=loop, daemon=True)
        self._reader.start()

    def stop_reader(self) -> None:
        """Stop the reader thread."""
        self._stop.set()
        if self._reader is not None:
            self._reader.join(5)
