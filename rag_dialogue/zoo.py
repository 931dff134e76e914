"""Share trained models: `zoo pack` writes a model with its index and card, `zoo install`
installs one from an archive, directory, URL or Hub repo.

The archive format and every check on what is installed live in `zoo_archive`.
"""

import argparse
import collections
import contextlib
import dataclasses
import datetime
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

from rag_dialogue.paths import home
from rag_dialogue.utils import (atomic_path, remove_stale_temporaries, sha256_file,
                                write_json_atomic, write_text_atomic)
from rag_dialogue.zoo_archive import (
    CARD_FORMAT, MAX_OPT_BYTES, DirSource, TarSource, card_files, check_allowed, check_name,
    check_opt_classes, check_present, copy_verified, safe_relpath, write_tar)

__all__ = ["pack", "install", "DownloadLimits", "CARD_FORMAT"]

# Opt keys naming a directory the agent reads; packed ones become relative to the archive root.
DIR_OPTS = ("generator", "query_encoder", "index_dir")
HF_DIRS = {"generator": "model.hf/generator", "query_encoder": "model.hf/query_encoder"}
METRIC_ORDER = ["ppl", "f1", "kf1", "rf1", "grounding_precision", "faithful_rate", "hallucination_rate",
                "no_claim_rate", "degenerate_rate", "recall@5"]
_HUB_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


# ---------------------------------------------------------------- pack


def pack(model_file, out_path, include_index=True, results=None, name=None) -> Path:
    """Write a gzipped tar with safetensors weights, relative opt, dict, HF dirs, index and card.

    `results` is an experiment results.json (default: MODEL.results.json if it exists).
    Returns the archive path.
    """
    model_file = Path(model_file).expanduser().resolve()
    out_path = Path(out_path).expanduser().resolve()
    for required in (model_file, _sibling(model_file, ".opt"), _sibling(model_file, ".dict")):
        if not required.is_file():
            raise FileNotFoundError(
                f"{required}: not found (pack needs MODEL, MODEL.opt and MODEL.dict)")
    name = check_name(name or _default_name(model_file))
    opt = json.loads(_sibling(model_file, ".opt").read_text(encoding="utf-8"))
    if results is None and _sibling(model_file, ".results.json").is_file():
        results = _sibling(model_file, ".results.json")
    results = _read_results(results) if results is not None else None

    files = {"model.dict": _sibling(model_file, ".dict")}  # arcname -> source file
    packed_opt = dict(opt, model_file="model", dict_file="model.dict", init_model=None)
    packed_opt.pop("datapath", None)  # machine-specific; ParlAI infers it
    not_packed = {}
    hf_root = _sibling(model_file, ".hf")
    for key, arc in HF_DIRS.items():
        src = hf_root / arc.split("/", 1)[1]
        if src.is_dir():
            files.update(_dir_files(src, arc))
            packed_opt[key] = arc
        elif opt.get(key):
            not_packed[key] = opt[key]  # e.g. a hub model name the installing side resolves

    index = None
    index_dir = opt.get("index_dir")
    if index_dir:
        index_dir = Path(index_dir).expanduser()
        meta_file = index_dir / "meta.json"
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else None
        if include_index:
            if not index_dir.is_dir():
                raise FileNotFoundError(f"index_dir {index_dir} does not exist; pack with "
                                        "--no-index to ship a pointer to it instead")
            files.update(_dir_files(index_dir, "index"))
            packed_opt["index_dir"] = "index"
            index = {"packed": True, "dir": "index", "meta": meta}
        else:
            # Only meta.json is hashed: hashing a multi-GB index would defeat --no-index.
            index = {"packed": False, "path": str(index_dir.resolve()), "meta": meta,
                     "meta_sha256": sha256_file(meta_file) if meta_file.is_file() else None}
            not_packed["index_dir"] = str(index_dir.resolve())
            packed_opt["index_dir"] = str(index_dir.resolve())

    for arc in files:
        check_allowed(arc)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".zoo-pack-", dir=out_path.parent) as stage:
        stage = Path(stage)
        weights = _save_weights(model_file, stage / "model.safetensors")
        files["model.safetensors"] = stage / "model.safetensors"
        write_json_atomic(stage / "model.opt", packed_opt)
        files["model.opt"] = stage / "model.opt"
        card = {
            "format": CARD_FORMAT,
            "name": name,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "agent": opt.get("model"),
            "task": opt.get("task"),
            "weights": weights,
            "index": index,
            "not_packed": not_packed,
            "metrics": results.get("conditions") if results else None,
            "swap": results.get("swap") if results else None,
        }
        write_text_atomic(stage / "MODEL_CARD.md", _card_markdown(card, packed_opt))
        files["MODEL_CARD.md"] = stage / "MODEL_CARD.md"
        card["files"] = {arc: {"sha256": sha256_file(src), "bytes": src.stat().st_size}
                         for arc, src in sorted(files.items())}
        write_json_atomic(stage / "card.json", card)
        with atomic_path(out_path) as tmp:
            # card.json first: `tar tzf` and streaming readers meet the card before the weights
            write_tar(tmp, [("card.json", stage / "card.json")] + sorted(files.items()))
    return out_path


def _sibling(model_file: Path, suffix: str) -> Path:
    return model_file.with_name(model_file.name + suffix)


def _default_name(model_file: Path) -> str:
    # ParlAI runs usually save as .../RUN/model, so the folder is the informative part.
    stem = model_file.parent.name if model_file.name == "model" else model_file.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "model"


def _read_results(path) -> dict:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("conditions"), dict):
        raise ValueError(f"{path}: expected an experiment results.json with a 'conditions' object")
    return data


def _dir_files(src: Path, arc_root: str) -> dict:
    """Every regular file under `src`, keyed by its archive name below `arc_root`."""
    out = {}
    for path in sorted(src.rglob("*")):
        if path.is_file():
            out[f"{arc_root}/{path.relative_to(src).as_posix()}"] = path
    return out


def _save_weights(model_file: Path, out: Path) -> dict:
    """Write MODEL's `model` state dict as safetensors; returns a summary for the card."""
    import torch
    from safetensors.torch import save_file

    # weights_only=False: ParlAI model files pickle the Opt and optimizer state. This is the
    # packer's own local file; install never unpickles anything.
    states = torch.load(model_file, map_location="cpu", weights_only=False)
    if not isinstance(states, dict) or not isinstance(states.get("model"), dict):
        raise ValueError(f"{model_file}: not a ParlAI model file (no 'model' state dict)")
    tensors, aliases = _dedupe(states["model"])
    save_file(tensors, str(out), metadata={"format": "pt", "aliases": json.dumps(aliases)})
    return {"file": "model.safetensors", "tensors": len(tensors) + len(aliases),
            "tied": len(aliases), "parameters": sum(t.numel() for t in tensors.values())}


def _dedupe(state: dict):
    """Split a state dict into storage-disjoint contiguous tensors plus tied-name aliases.

    safetensors refuses tensors that share memory. Exact ties (BART's shared embeddings)
    are stored once and recorded as aliases; partial overlaps are cloned apart.
    """
    import torch

    def view(t):
        return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape),
                tuple(t.stride()), t.dtype)

    views_per_storage = defaultdict(set)
    for key, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"state dict entry {key!r} is a {type(t).__name__}, not a tensor")
        if t.numel():
            views_per_storage[view(t)[0]].add(view(t))
    tensors, aliases, owner = {}, {}, {}
    for key, t in state.items():
        v = view(t) if t.numel() else None
        if v is not None and v in owner:
            aliases[key] = owner[v]
            continue
        if v is not None:
            owner[v] = key
        overlapping = v is not None and len(views_per_storage[v[0]]) > 1
        if overlapping or not t.numel():
            tensors[key] = t.detach().clone(memory_format=torch.contiguous_format)
        else:
            tensors[key] = t.detach().contiguous()
    return tensors, aliases


def _card_markdown(card: dict, opt: dict) -> str:
    """The human half of the card; `opt` is the packed (archive-relative) opt."""
    name, task = card["name"], card["task"] or "TASK"
    w = card["weights"]
    lines = [
        f"# {name}",
        "",
        f"A retrieval-augmented dialogue model for ParlAI (agent `{card['agent']}`), "
        f"{w['parameters']:,} parameters, packed {card['created']}.",
        "",
    ]
    facts = [("ParlAI task", opt.get("task")), ("RAG type", opt.get("rag_type")),
             ("passages per turn", opt.get("n_docs")), ("generator", opt.get("generator")),
             ("query encoder", opt.get("query_encoder"))]
    for key, value in facts:
        if value is not None:
            lines.append(f"- {key}: `{value}`")
    lines += ["", "## Data and knowledge", ""]
    index = card["index"]
    if index is None:
        lines.append("No retrieval index (this model does not retrieve).")
    else:
        where = "packed under `index/`" if index["packed"] else (
            f"not packed; the original index was at `{index['path']}` "
            f"(meta.json sha256 `{index['meta_sha256']}`)")
        lines.append(f"Retrieval index: {where}.")
        for key, value in (index["meta"] or {}).items():
            if isinstance(value, (str, int, float, bool)):
                lines.append(f"- {key}: `{value}`")
    for key, value in card["not_packed"].items():
        if key != "index_dir":
            lines.append(f"- `{key}` is not packed: `{value}` must be available where "
                         "it is installed.")
    lines += ["", "## Metrics", ""]
    if card["metrics"]:
        lines += _metrics_table(card["metrics"])
    else:
        lines.append("No experiment results were given.")
    if card["swap"]:
        swap = ", ".join(f"{k} {_fmt(v)}" for k, v in card["swap"].items())
        lines += ["", f"Index hot swap (new index, no retraining): {swap}"]
    lines += [
        "", "## How to use", "", "```",
        "rag-dialogue zoo install SOURCE        # prints the model file path (MF)",
        f"parlai eval_model -mf MF -t {task}",
        "rag-dialogue chat -mf MF",
        "```", "",
        "Installing checks every file against the sha256 in `card.json` and rebuilds the "
        "ParlAI model file from `model.safetensors`; nothing in the archive is executed "
        "or unpickled.",
        "", "Every file and its sha256 is listed in `card.json`.",
    ]
    return "\n".join(lines) + "\n"


def _metrics_table(conditions: dict) -> list:
    metrics = {m for splits in conditions.values() for row in splits.values() for m in row}
    cols = [m for m in METRIC_ORDER if m in metrics] + sorted(metrics - set(METRIC_ORDER))
    out = ["| condition | split | " + " | ".join(cols) + " |",
           "|---|---|" + "---|" * len(cols)]
    for cond, splits in conditions.items():
        for split, row in splits.items():
            out.append(f"| {cond} | {split} | " + " | ".join(_fmt(row.get(m)) for m in cols) + " |")
    return out


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------- install


def install(source, dest=None, force=False, limits=None) -> Path:
    """Install an archive, unpacked directory, http(s) URL or Hub repo id; return the model file.

    Every file is checked against card.json before the install is moved into place at
    DEST/NAME; weights are read with safetensors only and the ParlAI model file is
    written here, so nothing from the source is ever unpickled or executed. Downloads are
    bounded by `limits` (a `DownloadLimits`) in size and time. Installs into one DEST take
    turns, and each first removes what a killed one left there.
    """
    dest = Path(dest or home() / "zoo").expanduser().resolve()
    limits = limits or DownloadLimits()
    source = str(source)
    with _stop_on_sigterm(), _dest_lock(dest):
        _remove_stale_downloads(dest)
        if source.startswith(("http://", "https://")):
            dest.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f"{DOWNLOAD_PREFIX}{os.getpid()}-", dir=dest))
            try:
                archive = _download(source, tmp / "archive", limits)
                with contextlib.closing(TarSource(archive, label=source)) as src:
                    return _install(src, dest, force)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        path = Path(source).expanduser()
        if path.is_dir():
            return _install(DirSource(path), dest, force)
        if path.is_file():
            with contextlib.closing(TarSource(path)) as src:
                return _install(src, dest, force)
        if _HUB_REPO.fullmatch(source) and not source.endswith((".tar", ".gz", ".tgz", ".xz")):
            snapshot = Path(_hub_snapshot(source, limits))
            # Hub caches hold files as symlinks into the repo's blobs/; allow exactly those.
            return _install(DirSource(snapshot, links_within=snapshot.parents[1], label=source),
                            dest, force)
    raise FileNotFoundError(f"{source}: no such archive or directory, and not an http(s) URL "
                            "or a Hub repo id (owner/name)")


def _install(src, dest: Path, force: bool) -> Path:
    card = src.card()
    name = check_name(card.get("name"))
    files = card_files(card, src.label)
    check_present(src, files)
    _check_opt(src, files["model.opt"])

    final = dest / name
    if final.exists() and not force:
        raise ValueError(f"{final} already exists; pass --force to replace it")
    remove_stale_temporaries(final)  # of a killed install (the destination's lock keeps others out)
    # The installed files, and the ParlAI model file written beside its safetensors source.
    need = sum(e["bytes"] for e in files.values()) + files["model.safetensors"]["bytes"]
    check_free_space(dest, need, f"installing {src.label}")
    with atomic_path(final) as tmp:
        tmp.mkdir()
        for arc in src.names():  # the source's own order: sequential reads for a .tar.gz
            if arc in files:
                copy_verified(src, arc, tmp / arc, files[arc]["sha256"], files[arc]["bytes"])
        _finish(tmp, final, files)
        write_json_atomic(tmp / "card.json", card)  # provenance: what was verified
    _check_index_pointer(card.get("index"), final)
    return final / "model"


def _check_opt(src, entry: dict):
    """Read model.opt before anything is written: JSON, checksum, and no foreign classes."""
    if entry["bytes"] > MAX_OPT_BYTES:
        raise ValueError(f"model.opt: {entry['bytes']:,} bytes; refusing to install")
    with src.open("model.opt") as f:
        data = f.read(MAX_OPT_BYTES + 1)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ValueError(f"model.opt: checksum mismatch: {src.label} is corrupt or was modified")
    check_opt_classes(_parse_opt(data))


def _parse_opt(data: bytes) -> dict:
    try:
        opt = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        # ParlAI would fall back to unpickling a non-JSON .opt: refuse it here.
        raise ValueError(f"model.opt: not JSON ({e})") from None
    if not isinstance(opt, dict):
        raise ValueError("model.opt: expected a JSON object")
    return opt


def _finish(tmp: Path, final: Path, files: dict):
    """Turn verified files into a ParlAI model dir whose opt points at `final`."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    weights = tmp / "model.safetensors"
    with safe_open(str(weights), framework="pt") as f:
        aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    state = load_file(str(weights))
    if not isinstance(aliases, dict):
        raise ValueError("model.safetensors: 'aliases' metadata is not an object")
    for key, target in aliases.items():
        if target not in state:
            raise ValueError(f"model.safetensors: tied tensor {key!r} points at missing {target!r}")
        state[key] = state[target]  # restore the tie, so saving keeps one copy
    torch.save({"model": state}, tmp / "model")
    weights.unlink()

    opt = _parse_opt((tmp / "model.opt").read_bytes())
    # init_model/init_opt name files on the packer's machine that ParlAI would load (and unpickle)
    opt.update(model_file=str(final / "model"), dict_file=str(final / "model.dict"),
               init_model=None, init_opt=None)
    for key in DIR_OPTS:
        value = opt.get(key)
        if isinstance(value, str) and any(a.startswith(value.rstrip("/") + "/") for a in files):
            opt[key] = str(final / safe_relpath(value))
    write_json_atomic(tmp / "model.opt", opt)


def _check_index_pointer(index, final: Path):
    """An index left out with --no-index: say whether this machine has the same one."""
    if not index or index.get("packed"):
        return
    path = index.get("path")
    meta = Path(path) / "meta.json" if path else None
    if meta is None or not meta.is_file():
        print(f"note: the index is not in this archive and {path} does not exist here; pass "
              f"--index DIR to `rag-dialogue chat` or set index_dir in {final / 'model.opt'}",
              file=sys.stderr)
    elif index.get("meta_sha256") and sha256_file(meta) != index["meta_sha256"]:
        print(f"warning: {meta} differs from the index this model was packed with",
              file=sys.stderr)


# ---------------------------------------------------------------- bounded downloads

DOWNLOAD_PREFIX = ".zoo-download-"
DEFAULT_MAX_DOWNLOAD = 20 * 10**9  # the largest models and indexes people share fit
DEFAULT_DOWNLOAD_TIMEOUT = 6 * 3600.0
DEFAULT_MIN_RATE = 10 * 10**3  # bytes/s
DEFAULT_RATE_WINDOW = 60.0
END_WAIT = 2.0  # seconds to wait for the close after the declared length has arrived
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


@dataclasses.dataclass(frozen=True)
class DownloadLimits:
    """What one download may cost: a server cannot make `install` write or wait for more.

    `min_rate` (bytes/s, 0 for none) is averaged over every `window` seconds once the
    first window has passed, so a slow start or a short stall is not refused but a
    trickle is; `timeout` bounds the whole download, connection included.
    """

    max_bytes: int = DEFAULT_MAX_DOWNLOAD
    timeout: float = DEFAULT_DOWNLOAD_TIMEOUT
    min_rate: float = DEFAULT_MIN_RATE
    window: float = DEFAULT_RATE_WINDOW

    def __post_init__(self):
        if self.max_bytes <= 0 or self.timeout <= 0 or self.min_rate < 0 or self.window <= 0:
            raise ValueError(f"download limits must be positive: {self}")


def parse_size(text: str) -> int:
    """'50MB', '40GB', '1.5GiB', '512k' or a number of bytes (KB, MB, GB are powers of 1000)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]i?)?b?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"{text!r}: not a size (e.g. 50MB, 40GB, 1GiB)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def parse_duration(text: str) -> float:
    """'90', '90s', '30m' or '6h'."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smh]?)\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"{text!r}: not a duration (e.g. 90s, 30m, 6h)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2).lower()]


def format_size(n: float) -> str:
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= factor:
            return f"{n / factor:.4g} {unit}"
    return f"{n:.0f} B"


def check_free_space(where: Path, need: int, what: str):
    """Refuse before writing `need` bytes under `where` if the disk cannot hold them."""
    disk = Path(where)
    while not disk.exists():  # the disk it will be made on
        disk = disk.parent
    free = shutil.disk_usage(disk).free
    if need > free:
        raise ValueError(f"{what}: needs {format_size(need)} of free disk space in {where}, "
                         f"which has {format_size(free)}")


@contextlib.contextmanager
def _stop_on_sigterm():
    """SIGTERM ends Python without running `finally` blocks; as SystemExit it runs them,
    so a stopped install removes its partial files as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _dest_lock(dest: Path):
    """Installs into one destination take turns, under the lock index builds use (it dies
    with its process, so a killed install never leaves it behind)."""
    from rag_dialogue.retrieval.build import BuildLock, BuildLockedError

    lock, noted = BuildLock(dest), False
    while True:
        try:
            lock.__enter__()
            break
        except BuildLockedError:
            if not noted:
                print(f"note: another install is writing {dest}; waiting for it to finish",
                      file=sys.stderr)
                noted = True
            time.sleep(0.5)
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _remove_stale_downloads(dest: Path):
    """Remove the download folders of installs that were killed (SIGKILL, power loss).

    Each is named after the pid that made it, but holding the destination's lock is what
    makes them safe to remove: no other install into `dest` is running.
    """
    for stale in dest.glob(f"{DOWNLOAD_PREFIX}*"):
        print(f"note: removing {stale.name}, left by an install that was stopped",
              file=sys.stderr)
        shutil.rmtree(stale, ignore_errors=True)


class _Watchdog:
    """Enforces the deadline and the minimum rate from its own thread, so no blocking read
    can outlast them: when one is broken it shuts the connection's socket down, which
    ends the read in progress at once (a per-read socket timeout alone lets a server that
    sends a byte now and then go on for ever)."""

    def __init__(self, limits: DownloadLimits):
        self.limits = limits
        self.received = 0  # bytes of body so far, counted by the reading thread
        self.all_declared = False  # the declared length is in: no rate to keep up any more
        self.broken = None  # the limit that was hit, in words
        self.sock = None
        self._guard = threading.Lock()
        self._done = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="zoo-download-limits",
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def attach(self, sock):
        """Called with each new connection's socket (a redirect opens another)."""
        with self._guard:
            self.sock = sock
            if self.broken:
                self._cut()

    def _cut(self):
        try:  # the plain socket's shutdown: for TLS too, without touching the TLS state
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def _run(self):
        lim = self.limits
        samples = collections.deque([(self._start, 0)])
        tick = min(0.5, lim.window / 4)
        while not self._done.wait(max(0.0, min(tick, lim.timeout - self.elapsed()))):
            now, got = time.monotonic(), self.received
            samples.append((now, got))
            while len(samples) > 1 and samples[1][0] <= now - lim.window:
                samples.popleft()
            broken = None
            if now - self._start >= lim.timeout:
                broken = f"over the --download-timeout of {lim.timeout:g} s"
            elif lim.min_rate and now - self._start >= lim.window and not self.all_declared:
                t0, n0 = samples[0]
                rate = (got - n0) / max(now - t0, 1e-9)
                if rate < lim.min_rate:
                    broken = (f"under the --min-download-rate of {format_size(lim.min_rate)}/s "
                              f"({format_size(rate)}/s over the last {now - t0:.0f} s)")
            if broken:
                with self._guard:
                    self.broken = broken
                    if self.sock is not None:
                        self._cut()
                return


def _opener(watchdog: _Watchdog):
    """urllib for http(s) only (a redirect elsewhere, e.g. ftp://, is refused), with every
    connection's socket handed to the watchdog as soon as it is connected."""

    class Connection(http.client.HTTPConnection):
        def connect(self):
            super().connect()
            watchdog.attach(self.sock)

    class TLSConnection(http.client.HTTPSConnection):
        def connect(self):
            super().connect()
            watchdog.attach(self.sock)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(Connection, req)

    class TLSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(TLSConnection, req, context=self._context)

    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            fp.close()  # urllib would read a redirect's body whole, however long, into memory
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), Handler(), TLSHandler(),
                    urllib.request.UnknownHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    Redirects(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _download(url: str, out: Path, limits: DownloadLimits) -> Path:
    """Fetch `url` into `out`, within `limits`; on any failure `out` is removed and the
    error names the URL, the bytes received and the limit hit."""
    from rag_dialogue import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"rag-dialogue/{__version__}",
                                                   "Accept-Encoding": "identity"})
    watchdog = _Watchdog(limits)
    try:
        # The socket timeout only bounds a connect that never answers; the watchdog does the rest.
        with watchdog, _opener(watchdog).open(request, timeout=limits.timeout) as resp:
            _read_body(url, resp, out, watchdog)
        if watchdog.broken:  # the cut can look like the end of a body of unknown length
            raise _LimitHit()
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        if not isinstance(e, Exception):  # Ctrl-C, SIGTERM: stop, with the partial file gone
            raise
        if watchdog.broken:
            raise ValueError(f"{url}: refused after {watchdog.received:,} bytes in "
                             f"{watchdog.elapsed():.1f} s: {watchdog.broken}") from None
        if isinstance(e, urllib.error.HTTPError):
            cls = FileNotFoundError if e.code == 404 else ValueError
            raise cls(f"{url}: HTTP {e.code} {e.reason}") from None
        if isinstance(e, (urllib.error.URLError, http.client.HTTPException, OSError)):
            raise ValueError(f"{url}: download failed after {watchdog.received:,} bytes "
                             f"({getattr(e, 'reason', e)})") from None
        raise
    return out


class _LimitHit(Exception):
    pass


def _read_body(url: str, resp, out: Path, watchdog: _Watchdog):
    """Write the body to `out`, refusing it at the first byte over the size limit or over
    its declared Content-Length, and refusing one that ends short of that length."""
    from tqdm import tqdm

    limits = watchdog.limits
    declared = None if resp.chunked else resp.length
    if declared is not None:
        if declared > limits.max_bytes:
            raise ValueError(f"{url}: declares {declared:,} bytes ({format_size(declared)}), "
                             f"over the --max-download limit of {format_size(limits.max_bytes)}; "
                             "refused before reading it")
        check_free_space(out.parent, declared, url)
        # http.client would stop at the declared length and hide anything after it; read to
        # the end of the connection instead (urllib asks the server to close it).
        resp.length = None
    cap = declared if declared is not None else limits.max_bytes
    with open(out, "xb") as f, tqdm(total=declared, unit="B", unit_scale=True,
                                    unit_divisor=1024, file=sys.stderr,
                                    desc=url.rsplit("/", 1)[-1][:40], disable=None) as bar:
        while True:
            at_end = declared is not None and watchdog.received == declared
            if at_end:  # a server that keeps the connection open has sent its body
                watchdog.all_declared = True
                watchdog.sock.settimeout(END_WAIT)
            try:
                block = resp.read1(1 << 20)  # what has arrived, however little: one read
            except TimeoutError:
                if at_end:
                    break
                raise
            if not block:
                break
            watchdog.received += len(block)
            if watchdog.received > cap:
                if declared is not None:
                    raise ValueError(f"{url}: sent more than the {declared:,} bytes its "
                                     "Content-Length declares; refused at the first byte over")
                raise ValueError(f"{url}: refused after {cap:,} bytes: over the --max-download "
                                 f"limit of {format_size(cap)}")
            f.write(block)
            bar.update(len(block))
    if declared is not None and watchdog.received < declared and not watchdog.broken:
        raise ValueError(f"{url}: download stopped at {watchdog.received:,} of the "
                         f"{declared:,} bytes its Content-Length declares")


# What a zoo archive may hold, as Hub file names: only these are fetched.
def _hub_wanted(name: str) -> bool:
    if name == "card.json":
        return True
    try:
        check_allowed(name)
    except ValueError:
        return False
    return True


def _hub_snapshot(repo_id: str, limits: DownloadLimits) -> str:
    """Fetch the files of a Hub repo that a zoo archive may hold, once their sizes (from
    the Hub's listing, before anything is fetched) are known to fit the size limit."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import (HfHubHTTPError, HTTPError, IncompleteSnapshotError,
                                        LocalEntryNotFoundError)

    try:
        if constants.HF_HUB_OFFLINE:  # nothing is fetched: the local cache's snapshot is used
            return huggingface_hub.snapshot_download(repo_id)
        try:
            info = huggingface_hub.HfApi().model_info(repo_id, files_metadata=True)
        except HfHubHTTPError:
            raise
        except HTTPError:  # the Hub cannot be reached: install what the cache holds, if it does
            return huggingface_hub.snapshot_download(repo_id, local_files_only=True)
        sizes = {s.rfilename: s.size for s in info.siblings or () if _hub_wanted(s.rfilename)}
        if "card.json" not in sizes:
            raise ValueError(f"{repo_id}: the Hub repo has no card.json (not a rag-dialogue "
                             "zoo model)")
        unknown = sorted(name for name, size in sizes.items() if size is None)
        if unknown:
            raise ValueError(f"{repo_id}: the Hub gives no size for {', '.join(unknown[:3])}; "
                             "refusing to fetch it")
        total = sum(sizes.values())
        if total > limits.max_bytes:
            raise ValueError(f"{repo_id}: its {len(sizes)} files come to {total:,} bytes "
                             f"({format_size(total)}), over the --max-download limit of "
                             f"{format_size(limits.max_bytes)}; nothing was fetched")
        cache = Path(constants.HF_HUB_CACHE)
        cache.mkdir(parents=True, exist_ok=True)
        check_free_space(cache, total, repo_id)
        # the listed revision, and exactly the listed files (escaped: names are not patterns)
        return huggingface_hub.snapshot_download(
            repo_id, revision=info.sha, allow_patterns=[glob.escape(n) for n in sorted(sizes)])
    except (LocalEntryNotFoundError, IncompleteSnapshotError, HfHubHTTPError) as e:
        raise FileNotFoundError(f"{repo_id}: not a local path, and the Hub repo could not be "
                                f"fetched ({type(e).__name__}: {str(e).splitlines()[0]})") from None


# ---------------------------------------------------------------- command line


def add_subparser(subparsers):
    parser = subparsers.add_parser("zoo", help="pack a trained model for sharing, or install one")
    sub = parser.add_subparsers(dest="zoo_command", metavar="{pack,install}")
    sub.required = True

    p = sub.add_parser("pack", help="write MODEL with its opt, dict, HF dirs, index and card "
                                    "to a .tar.gz")
    p.add_argument("model_file", metavar="MODEL",
                   help="ParlAI model file (MODEL.opt and MODEL.dict beside it)")
    p.add_argument("out", metavar="OUT.tar.gz", help="archive to write (atomically)")
    p.add_argument("--no-index", action="store_true",
                   help="leave the index out; the card keeps its path, meta.json and checksum")
    p.add_argument("--results", metavar="FILE",
                   help="experiment results.json for the card's metrics "
                        "(default: MODEL.results.json)")
    p.add_argument("--name", help="install name (default: the run folder of MODEL)")
    p.set_defaults(func=_cmd_pack)

    i = sub.add_parser("install", help="verify and install an archive, directory, http(s) URL "
                                       "or Hub repo id; prints the -mf path last")
    i.add_argument("source", metavar="SOURCE",
                   help="OUT.tar.gz, an unpacked directory, an http(s) URL "
                        "or a Hub repo id owner/name")
    i.add_argument("--dest", metavar="DIR", help=f"where models go (default: {home() / 'zoo'})")
    i.add_argument("--force", action="store_true",
                   help="replace an installed model of the same name")
    i.add_argument("--max-download", metavar="SIZE", type=_arg(parse_size),
                   default=DEFAULT_MAX_DOWNLOAD,
                   help="refuse a URL or Hub download larger than this, e.g. 50MB, 40GB "
                        f"(default: {format_size(DEFAULT_MAX_DOWNLOAD)})")
    i.add_argument("--download-timeout", metavar="TIME", type=_arg(parse_duration),
                   default=DEFAULT_DOWNLOAD_TIMEOUT,
                   help="give up a URL download that takes longer, e.g. 90s, 30m, 6h "
                        f"(default: {DEFAULT_DOWNLOAD_TIMEOUT / 3600:g}h)")
    i.add_argument("--min-download-rate", metavar="SIZE", type=_arg(parse_size),
                   default=DEFAULT_MIN_RATE,
                   help="give up a URL download slower than this per second, averaged "
                        "over --rate-window; 0 for no minimum "
                        f"(default: {format_size(DEFAULT_MIN_RATE)})")
    i.add_argument("--rate-window", metavar="SECONDS", type=_arg(parse_duration),
                   default=DEFAULT_RATE_WINDOW,
                   help="seconds the rate is averaged over, and the grace period before it "
                        f"is checked (default: {DEFAULT_RATE_WINDOW:g})")
    i.set_defaults(func=_cmd_install)


def _arg(parse):
    """An argparse type from one of our parsers, so a bad value is a usage error."""
    def convert(text):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = parse.__name__
    return convert


def _cmd_pack(args) -> int:
    out = pack(args.model_file, args.out, include_index=not args.no_index,
               results=args.results, name=args.name)
    print(f"packed {args.model_file} ({out.stat().st_size / 2**20:.1f} MiB); share it and run "
          f"`rag-dialogue zoo install SOURCE`")
    print(out)
    return 0


def _cmd_install(args) -> int:
    limits = DownloadLimits(max_bytes=args.max_download, timeout=args.download_timeout,
                            min_rate=args.min_download_rate, window=args.rate_window)
    mf = install(args.source, dest=args.dest, force=args.force, limits=limits)
    task = json.loads(Path(f"{mf}.opt").read_text(encoding="utf-8")).get("task") or "TASK"
    print(f"installed {mf.parent.name} to {mf.parent}")
    print(f"  parlai eval_model -mf {mf} -t {task}")
    print(f"  rag-dialogue chat -mf {mf}")
    print(mf)
    return 0
