"""Archives made by an attacker: a card that lies about sizes, decompression bombs, and
options that would make ParlAI import code from elsewhere. Each is refused with an error
naming the file or option, before anything is written under the target."""

import gzip
import io
import json
import tarfile
import threading
import time
from pathlib import Path

import pytest

from rag_dialogue import zoo
from rag_dialogue.utils import sha256_file
from test_zoo import make_model

GiB = 1 << 30


@pytest.fixture
def unpacked(tmp_path):
    """A real packed model, unpacked: the attacker's starting point."""
    archive = zoo.pack(make_model(tmp_path / "src"), tmp_path / "good.tar.gz")
    out = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    return out


def card_of(folder: Path) -> dict:
    return json.loads((folder / "card.json").read_text())


def repack(folder: Path, out: Path, card: dict | None = None) -> Path:
    """A .tar.gz of `folder` as `zoo pack` lays it out (card.json first)."""
    card = card or card_of(folder)
    with tarfile.open(out, "w:gz") as tar:
        data = json.dumps(card).encode()
        info = tarfile.TarInfo("card.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "card.json"):
            tar.add(path, arcname=path.relative_to(folder).as_posix())
    return out


def relist(folder: Path) -> dict:
    """card.json recomputed honestly for the folder's files, as an attacker would."""
    card = card_of(folder)
    card["files"] = {p.relative_to(folder).as_posix(): {"sha256": sha256_file(p),
                                                        "bytes": p.stat().st_size}
                     for p in folder.rglob("*") if p.is_file() and p.name != "card.json"}
    (folder / "card.json").write_text(json.dumps(card))
    return card


class DiskWatch:
    """Largest total size of the files under `root` seen while the block runs (polled)."""

    def __init__(self, root: Path):
        self.root, self.peak, self._stop = root, 0, threading.Event()

    def _poll(self):
        while not self._stop.is_set():
            if self.root.exists():
                size = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
                self.peak = max(self.peak, size)
            time.sleep(0.005)

    def __enter__(self):
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def refused(source, tmp_path, match):
    """Install `source`; it must fail with `match`, write under 100 MB, and leave nothing."""
    dest = tmp_path / "zoo"
    start = time.monotonic()
    with DiskWatch(tmp_path / "zoo") as disk, pytest.raises(ValueError, match=match) as err:
        zoo.install(source, dest=dest)
    assert disk.peak < 100 << 20, disk.peak
    assert time.monotonic() - start < 60
    assert not dest.exists() or not any(dest.iterdir())
    return str(err.value)


# ---------------------------------------------------------------- a card that lies about sizes


def test_card_understating_a_size_is_refused_before_writing(unpacked, tmp_path):
    card = card_of(unpacked)
    with open(unpacked / "model.dict", "a") as f:
        f.write("evil\t1\n" * 1000)
    card["files"]["model.dict"]["sha256"] = sha256_file(unpacked / "model.dict")  # only the size lies
    bad = repack(unpacked, tmp_path / "lies.tar.gz", card)
    message = refused(bad, tmp_path, r"model.dict: .* holds 7,016 bytes but card.json says 16")
    assert "refusing to install" in message


def test_card_overstating_a_size_is_refused(unpacked, tmp_path):
    card = card_of(unpacked)
    card["files"]["index/passages.jsonl"]["bytes"] += 5
    refused(repack(unpacked, tmp_path / "lies.tar.gz", card), tmp_path,
            r"index/passages.jsonl: .* holds \d+ bytes but card.json says")
    # the same lie in an unpacked directory: the copy stops at the card's size
    (unpacked / "card.json").write_text(json.dumps(card))
    refused(unpacked, tmp_path, r"index/passages.jsonl: checksum mismatch")


def test_card_without_sizes_is_refused(unpacked, tmp_path):
    card = card_of(unpacked)
    del card["files"]["model.opt"]["bytes"]
    refused(repack(unpacked, tmp_path / "nosize.tar.gz", card), tmp_path,
            r"model.opt: card.json gives no size in bytes")


# ---------------------------------------------------------------- decompression bombs


def bomb(out: Path, card: dict, name: str, size: int, listed=True) -> Path:
    """A .tar.gz whose `name` member is `size` zero bytes: gzip members of 1 MiB of zeros,
    repeated (gzip readers join them), so a 4 GiB member costs 4 MiB of archive."""
    zeros = gzip.compress(bytes(1 << 20), compresslevel=9)
    files = {k: v for k, v in card["files"].items()}
    card = dict(card, files=files)
    if listed:
        files[name] = {"sha256": "0" * 64, "bytes": files.get(name, {}).get("bytes", size)}
    with open(out, "wb") as f:
        head = io.BytesIO()
        data = json.dumps(card).encode()
        info = tarfile.TarInfo("card.json")
        info.size = len(data)
        head.write(info.tobuf(format=tarfile.GNU_FORMAT))
        head.write(data + bytes(-len(data) % 512))
        member = tarfile.TarInfo(name)
        member.size = size
        head.write(member.tobuf(format=tarfile.GNU_FORMAT))
        f.write(gzip.compress(head.getvalue()))
        for _ in range(size >> 20):
            f.write(zeros)
        f.write(gzip.compress(bytes(-size % 512) + bytes(1024)))
    return out


def test_bomb_whose_card_admits_its_size_is_refused(unpacked, tmp_path):
    card = card_of(unpacked)
    card["files"]["model.safetensors"]["bytes"] = 4 * GiB
    out = bomb(tmp_path / "bomb.tar.gz", card, "model.safetensors", 4 * GiB)
    assert out.stat().st_size < 8 << 20  # small archive
    message = refused(out, tmp_path, r"likely decompression bomb")
    assert "4,096 MiB" in message


def test_bomb_whose_card_hides_its_size_is_refused(unpacked, tmp_path):
    out = bomb(tmp_path / "bomb.tar.gz", card_of(unpacked), "model.safetensors", 4 * GiB)
    refused(out, tmp_path, r"model.safetensors: .* holds 4,294,967,296 bytes but card.json says")


def test_bomb_in_a_file_the_card_does_not_list_is_refused(unpacked, tmp_path):
    out = bomb(tmp_path / "bomb.tar.gz", card_of(unpacked), "index/padding.bin", 4 * GiB,
               listed=False)
    refused(out, tmp_path, r"holds more than card.json lists \(index/padding.bin")


# ---------------------------------------------------------------- options naming foreign code


@pytest.mark.parametrize("key, value", [
    ("model", "os:system"),
    ("model", "evil_agents.agent:EvilAgent"),
    ("model", "internal:memnn"),
    ("dict_class", "subprocess:Popen"),
    ("task", "rag_dialogue.tasks.vital_articles.agents,evil_tasks.teach:Teacher"),
    ("override", {"model": "evil_agents.agent:EvilAgent"}),
])
def test_options_naming_a_class_outside_the_project_are_refused(unpacked, tmp_path, key, value):
    opt = json.loads((unpacked / "model.opt").read_text())
    opt[key] = value
    (unpacked / "model.opt").write_text(json.dumps(opt))
    relist(unpacked)
    named = value["model"] if isinstance(value, dict) else value.split(",")[-1]
    for source in (repack(unpacked, tmp_path / "foreign.tar.gz"), unpacked):
        message = refused(source, tmp_path, "refusing to install")
        assert message.startswith("model.opt: option ") and repr(named) in message


def test_project_and_parlai_classes_are_accepted(unpacked, tmp_path):
    opt = json.loads((unpacked / "model.opt").read_text())
    opt.update(task="wizard_of_wikipedia:GeneratorTeacher:topic_split,rag_dialogue.tasks."
                    "vital_articles.agents", dict_class="rag_dialogue.dictionary:RagDictionaryAgent",
               evaltask="fromfile:parlaiformat")
    (unpacked / "model.opt").write_text(json.dumps(opt))
    relist(unpacked)
    mf = zoo.install(repack(unpacked, tmp_path / "ok.tar.gz"), dest=tmp_path / "zoo")
    assert json.loads(Path(f"{mf}.opt").read_text())["dict_class"].startswith("rag_dialogue.")
