"""Crash-safe writes: write to a temporary sibling, fsync, then rename into place.

A rename within one directory (one filesystem) is atomic, so readers see either the old
content or the new one, never a partial file. Temporaries carry ``TMP_PREFIX`` so that those
left behind by a killed writer can be recognised and removed later (:func:`remove_stale`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TMP_PREFIX = ".tmp-"


def temp_sibling(path: Path) -> Path:
    """A unique temporary path next to ``path`` (same directory, hence same filesystem)."""
    return path.with_name(f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name}")


def fsync_dir(path: Path) -> None:
    """Persist a directory entry (a rename or a new file); a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """Yield a binary file; on success it replaces ``path`` atomically, on error it vanishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably."""
    with atomic_file(path) as fh:
        fh.write(data)
    return path


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory to fill; on success it is renamed to ``final``.

    ``final`` must not exist yet (directories cannot be replaced atomically). Files written
    inside must be fsynced by the caller; the directory entries are fsynced here.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
        fsync_dir(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(final.parent)


def newest_mtime(path: Path) -> float:
    """Latest modification time of ``path`` and its direct children (a writer's last sign of life)."""
    try:
        newest = path.stat().st_mtime
    except OSError:
        return time.time()
    if path.is_dir():
        with contextlib.suppress(OSError):
            for child in os.scandir(path):
                with contextlib.suppress(OSError):
                    newest = max(newest, child.stat(follow_symlinks=False).st_mtime)
    return newest


def remove_tree_or_file(path: Path) -> None:
    """Remove a file or directory tree, ignoring races with other removers."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale(parent: Path, older_than_s: float) -> int:
    """Remove temporaries in ``parent`` untouched for ``older_than_s`` seconds; return how many.

    The age test keeps a concurrent writer's temporary alive while it is still being written.
    """
    if not parent.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for entry in list(os.scandir(parent)):
        if entry.name.startswith(TMP_PREFIX):
            path = Path(entry.path)
            if newest_mtime(path) <= cutoff:
                remove_tree_or_file(path)
                removed += 1
    return removed
