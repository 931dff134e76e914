"""The zoo archive format and its safety checks: what a shared model may carry, and how
an archive or directory from someone else is read without running, unpickling or
writing anything it should not.

An archive is a gzipped tar whose first file is `card.json`: the model's card, listing
every other file with its sha256 and size. Installing trusts nothing in it until
checked: names (no absolute paths, `..`, links or devices), kinds of files (no pickles
or code), sizes (each as the card says, and no more than a plausible multiple of the
archive: a decompression bomb is refused before anything is written), checksums, and
the options file (no agent, dictionary or task class from outside rag-dialogue and
ParlAI, whose import would run code).
"""

import hashlib
import json
import os
import re
import stat
import tarfile
import zlib
from pathlib import Path, PurePosixPath

CARD_FORMAT = "rag-dialogue-zoo/1"

# What an archive may carry. Everything else is refused, in particular ParlAI's pickled
# `model`/`model.checkpoint` and pickle/code files that some loader would execute.
ROOT_FILES = {"model.safetensors", "model.opt", "model.dict", "MODEL_CARD.md"}
ROOT_DIRS = {"model.hf", "index"}
UNSAFE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib",
                   ".py", ".pyc", ".so", ".sh", ".exe", ".dll"}

# Weights and FAISS indexes hardly compress (about 1.1x), passages and tokenizers about
# 4x; an archive that claims to unpack to more than MAX_RATIO times its size, and to more
# than RATIO_FLOOR bytes, is taken for a decompression bomb.
MAX_RATIO = 100
RATIO_FLOOR = 64 << 20
MAX_CARD_BYTES = 16 << 20
MAX_OPT_BYTES = 4 << 20

# Options ParlAI turns into an import: `model` (agent), `dict_class`, `task`/`evaltask`
# (teachers). A shared model may only name rag-dialogue's classes or ParlAI's own.
CLASS_OPTS = ("model", "dict_class", "task", "evaltask")
TRUSTED_MODULES = ("rag_dialogue.", "parlai.")
_BUILTIN = re.compile(r"[A-Za-z0-9_]+(/[A-Za-z0-9_]+)?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"model name {name!r} must be letters, digits, '.', '_' or '-' "
                         "(it becomes a directory name)")
    return name


def safe_relpath(name: str, label: str = "entry") -> str:
    """Normalise an archive member name; refuse anything that could leave the target dir."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise ValueError(f"{name!r}: unsafe {label} name; refusing to install")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise ValueError(f"{name}: {label} has an absolute path; refusing to install")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if not parts or ".." in parts:
        raise ValueError(f"{name}: {label} path leaves the target directory; refusing to install")
    return "/".join(parts)


def check_allowed(arc: str):
    top = arc.split("/")[0]
    if (arc in ROOT_FILES or (top in ROOT_DIRS and "/" in arc)) and \
            PurePosixPath(arc).suffix.lower() not in UNSAFE_SUFFIXES:
        return
    raise ValueError(f"{arc}: not a file a shared model may carry (weights go in "
                     "model.safetensors; pickle and code files are refused)")


def parse_card(data: bytes, label: str) -> dict:
    try:
        card = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{label}: card.json is not valid JSON ({e})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ValueError(f"{label}: card.json is not a {CARD_FORMAT} card")
    return card


def card_files(card: dict, label: str) -> dict:
    """card.json's file list, checked: arc name -> {"sha256", "bytes"}."""
    files = card.get("files")
    if not isinstance(files, dict) or not files:
        raise ValueError(f"{label}: card.json lists no files")
    for arc, entry in files.items():
        if safe_relpath(arc, "card.json file") != arc:
            raise ValueError(f"{arc}: card.json file names must be normalised relative paths")
        check_allowed(arc)
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ValueError(f"{arc}: card.json has no valid sha256 for it")
        size = entry.get("bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"{arc}: card.json gives no size in bytes for it")
    for arc in ("model.safetensors", "model.opt", "model.dict"):
        if arc not in files:
            raise ValueError(f"{label}: card.json does not list {arc}")
    return files


def check_unpacked_size(total: int, archive_bytes: int, label: str):
    """Refuse an archive that claims to unpack to far more than compression allows."""
    if total > RATIO_FLOOR and total > MAX_RATIO * max(archive_bytes, 1):
        raise ValueError(
            f"{label}: its files would unpack to {total / 2**20:,.0f} MiB from a "
            f"{archive_bytes / 2**20:,.1f} MiB archive ({total / max(archive_bytes, 1):,.0f}x; "
            f"models compress at most a few times): refusing a likely decompression bomb")


def check_present(src, files: dict):
    """Every file card.json lists is in `src` (a tar's sizes were checked while scanning it;
    a directory's are checked while copying)."""
    available = set(src.names())
    for arc in files:
        if arc not in available:
            raise ValueError(f"{arc}: listed in card.json but missing from {src.label}")


def check_opt_classes(opt: dict, label: str = "model.opt"):
    """Refuse options that would make ParlAI import code from outside rag-dialogue and ParlAI."""
    sources = [opt] + ([opt["override"]] if isinstance(opt.get("override"), dict) else [])
    for options in sources:
        for key in CLASS_OPTS:
            value = options.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"{label}: option {key!r} must be a string, got "
                                 f"{type(value).__name__}; refusing to install")
            for spec in value.split(",") if key in ("task", "evaltask") else [value]:
                if not _trusted_class(spec.strip(), key):
                    raise ValueError(
                        f"{label}: option {key!r} names {spec.strip()!r}, code from outside "
                        "rag-dialogue and ParlAI that loading the model would import; "
                        "refusing to install")


def _trusted_class(spec: str, key: str) -> bool:
    # ParlAI imports `module:Class` for dict_class and for a model with a colon (any
    # top-level module, e.g. "os:system"), and a dotted task module; shorthands
    # ("transformer/generator", "wizard_of_wikipedia:GeneratorTeacher") resolve inside
    # parlai.agents / parlai.tasks, except the `internal:`, `fb:` and `projects:` ones.
    module = spec.split(":", 1)[0]
    if key == "dict_class" or (key == "model" and ":" in spec) or "." in module:
        return module.startswith(TRUSTED_MODULES)
    return module not in ("internal", "fb", "projects") and bool(_BUILTIN.fullmatch(module))


def copy_verified(src, arc: str, out: Path, sha256: str, size: int):
    """Copy one file, stopping as soon as it exceeds `size`; then check its sha256."""
    out.parent.mkdir(parents=True, exist_ok=True)
    h, written = hashlib.sha256(), 0
    with src.open(arc) as fin, open(out, "xb") as fout:
        for block in iter(lambda: fin.read(min(1 << 20, size - written + 1)), b""):
            written += len(block)
            if written > size:
                raise ValueError(f"{arc}: checksum mismatch (longer than the {size:,} bytes "
                                 f"card.json gives): {src.label} is corrupt or was modified")
            h.update(block)
            fout.write(block)
    if written != size or h.hexdigest() != sha256:
        raise ValueError(f"{arc}: checksum mismatch (card.json {sha256[:12]}..., file "
                         f"{h.hexdigest()[:12]}...): {src.label} is corrupt or was modified")


def write_tar(out: Path, entries):
    with tarfile.open(out, "w:gz") as tar:
        for arc, src in entries:
            info = tarfile.TarInfo(arc)
            info.size = src.stat().st_size
            info.mtime = int(src.stat().st_mtime)
            info.mode = 0o644
            with open(src, "rb") as f:
                tar.addfile(info, f)


class TarSource:
    """A tar archive, every member checked before anything is written.

    Members are read one header at a time and each is checked before tarfile reads
    past its data, so a member too large for the card is refused without being
    decompressed. `card.json` must come first (as `zoo pack` writes it).
    """

    def __init__(self, path: Path, label=None):
        self.label = label or str(path)
        self.archive_bytes = Path(path).stat().st_size
        try:
            self.tar = tarfile.open(path, "r:*")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise ValueError(f"{self.label}: not a readable tar archive ({e})") from None
        try:
            self.members, self._card = self._scan()
        except BaseException:
            self.tar.close()
            raise

    def _next(self):
        try:
            return self.tar.next()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise ValueError(f"{self.label}: not a readable tar archive ({e})") from None

    def _scan(self):
        members, card, budget = {}, None, 0
        while (m := self._next()) is not None:
            arc = safe_relpath(m.name, "archive entry")
            if m.issym() or m.islnk():
                raise ValueError(f"{m.name}: archive entry is a link; refusing to install")
            if m.isdir():
                continue
            if not m.isreg():
                raise ValueError(f"{m.name}: archive entry is a device or special file; "
                                 "refusing to install")
            if arc in members:
                raise ValueError(f"{m.name}: archive entry appears twice; refusing to install")
            if card is None:
                if arc != "card.json":
                    raise ValueError(f"{self.label}: card.json is not the first file (not a "
                                     "rag-dialogue zoo archive)")
                if m.size > MAX_CARD_BYTES:
                    raise ValueError(f"{self.label}: card.json of {m.size:,} bytes; refusing it")
                with self.tar.extractfile(m) as f:
                    card = parse_card(f.read(), self.label)
                files = card_files(card, self.label)
                listed = sum(e["bytes"] for e in files.values())
                check_unpacked_size(listed, self.archive_bytes, self.label)
                budget = listed + (1 << 20)  # and a little for files it does not list
            else:
                listed = files.get(arc)
                if listed is not None and m.size != listed["bytes"]:
                    raise ValueError(f"{arc}: {self.label} holds {m.size:,} bytes but card.json "
                                     f"says {listed['bytes']:,}; refusing to install")
                budget -= m.size + 512  # (each header is a block)
                if budget < 0:
                    raise ValueError(f"{self.label}: holds more than card.json lists ({arc}, "
                                     f"{m.size:,} bytes); refusing to install")
            members[arc] = m
        if card is None:
            raise ValueError(f"{self.label}: no card.json (not a rag-dialogue zoo archive)")
        return members, card

    def names(self):
        return list(self.members)

    def sizes(self) -> dict:
        return {arc: m.size for arc, m in self.members.items()}

    def close(self):
        self.tar.close()

    def open(self, arc):
        return self.tar.extractfile(self.members[arc])

    def card(self) -> dict:
        return self._card


class DirSource:
    """An unpacked archive on disk; links are refused unless they stay inside `links_within`."""

    def __init__(self, root: Path, links_within=None, label=None):
        self.root, self.label = root, label or str(root)
        allowed = Path(links_within).resolve() if links_within else None
        self.files = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for entry in dirnames + filenames:
                path = Path(dirpath) / entry
                arc = path.relative_to(root).as_posix()
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode):
                    target = path.resolve()
                    inside = allowed is not None and target.is_relative_to(allowed)
                    if not (inside and target.is_file()):
                        raise ValueError(f"{arc}: is a link; refusing to install")
                    self.files[arc] = target
                elif stat.S_ISREG(mode):
                    self.files[arc] = path
                elif not stat.S_ISDIR(mode):
                    raise ValueError(f"{arc}: is a device or special file; refusing to install")

    def names(self):
        return list(self.files)

    def sizes(self) -> dict:
        return {arc: path.stat().st_size for arc, path in self.files.items()}

    def open(self, arc):
        return open(self.files[arc], "rb")

    def card(self) -> dict:
        if "card.json" not in self.files:
            raise ValueError(f"{self.label}: no card.json (not a rag-dialogue zoo model)")
        if self.files["card.json"].stat().st_size > MAX_CARD_BYTES:
            raise ValueError(f"{self.label}: card.json larger than {MAX_CARD_BYTES:,} bytes")
        card = parse_card(self.files["card.json"].read_bytes(), self.label)
        card_files(card, self.label)
        return card
