"""Small helpers shared across modules: atomic writes and checksums."""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path next to `path`; move it into place only on success.

    Works for files and directories, so a crash never leaves a half-written index
    or model where it would be loaded.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / (path.name + suffix)
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(target, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temporaries(path):
    """Remove what `atomic_path` writes beside `path` (and beside any file or folder
    whose name extends it, e.g. `path.hf`) when a kill stops it before it can clean up.
    Call it only while no other process writes there."""
    path = Path(path)
    for pattern in (f".{path.name}.*.tmp", f".{path.name}.old-*"):
        for stale in path.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def write_text_atomic(path, text: str):
    """Write `text` so that a reader sees the old file or the whole new one, even after a
    crash of the machine: written beside it, flushed to disk (fsync), then renamed."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def write_json_atomic(path, obj, indent: int = 2):
    """`write_text_atomic` of `obj` as JSON: the one atomic JSON writer."""
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def sha256_file(path, chunk=1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
