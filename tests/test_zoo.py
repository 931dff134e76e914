"""Packing and installing shared models: round trips from every source, and refusals."""

import functools
import hashlib
import http.server
import io
import json
import os
import pickle
import tarfile
import threading
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from rag_dialogue import zoo
from rag_dialogue.utils import sha256_file


# ---------------------------------------------------------------- fixtures


def make_model(root: Path) -> Path:
    """A trained model laid out as ParlAI and the agent write it, with tiny tensors."""
    torch.manual_seed(0)
    run = root / "runs" / "tiny-rag"
    run.mkdir(parents=True)
    mf = run / "model"
    emb = torch.randn(12, 4)
    base = torch.randn(6, 4)
    state = OrderedDict([
        ("shared.weight", emb),  # tied three ways, like BART's embeddings
        ("encoder.embed_tokens.weight", emb),
        ("decoder.embed_tokens.weight", emb),
        ("encoder.layers.0.fc.weight", torch.randn(3, 4).t()),  # not contiguous
        ("encoder.layers.0.fc.bias", torch.randn(4).half()),
        ("head.a", base[:3]),  # two different views of one storage
        ("head.b", base[3:]),
        ("lm_head.weight_t", emb.t()),  # overlaps the tied embedding with other strides
        ("position_ids", torch.arange(7)),
        ("empty", torch.zeros(0)),
    ])
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]},
                "opt": {"model": "rag_dialogue.agent:RagDialogueAgent"},
                "number_training_updates": 3}, mf)

    index = root / "index"
    index.mkdir()
    import faiss

    flat = faiss.IndexFlatIP(4)
    flat.add(torch.randn(3, 4).numpy())
    faiss.write_index(flat, str(index / "index.faiss"))
    (index / "meta.json").write_text(json.dumps({"encoder": "tiny", "dim": 4, "count": 3,
                                                 "factory": "Flat", "metric": "ip"}))
    passages = [{"id": f"p{i}", "title": f"T{i}", "text": f"passage {i}"} for i in range(3)]
    (index / "passages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in passages))

    for sub, model_type in (("generator", "bart"), ("query_encoder", "bert")):
        d = run / "model.hf" / sub
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"model_type": model_type, "d_model": 4}))
        (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
        (d / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n")

    (run / "model.dict").write_text("hello\t3\nworld\t2\n")
    (run / "model.opt").write_text(json.dumps({
        "model": "rag_dialogue.agent:RagDialogueAgent", "task": "rag_dialogue.tasks.vital_articles",
        "model_file": str(mf), "dict_file": str(run / "model.dict"),
        "init_model": str(root / "warm" / "model"), "generator": str(root / "tiny_bart"),
        "query_encoder": str(root / "tiny_encoder"), "index_dir": str(index),
        "datapath": str(root / "data"), "rag_type": "token", "n_docs": 5,
    }))
    (run / "model.results.json").write_text(json.dumps({
        "conditions": {
            "no_knowledge": {"test_unseen": {"f1": 0.12, "kf1": 0.05, "hallucination_rate": 0.61}},
            "rag_token": {"test_unseen": {"f1": 0.31, "kf1": 0.42, "hallucination_rate": 0.15}},
        },
        "swap": {"follow_rate": 0.74, "stale_rate": 0.08},
    }))
    return mf


@pytest.fixture
def model(tmp_path):
    return make_model(tmp_path / "src")


@pytest.fixture
def archive(model, tmp_path):
    return zoo.pack(model, tmp_path / "out" / "tiny-rag.tar.gz")


def original_state(mf):
    return torch.load(mf, weights_only=False)["model"]


def assert_installed(mf: Path, src_mf: Path, dest: Path):
    """The installed model holds the same tensors and an opt whose paths exist under dest."""
    assert mf == dest / "tiny-rag" / "model"
    state = torch.load(mf, weights_only=True)["model"]  # tensors only, nothing to unpickle
    want = original_state(src_mf)
    assert set(state) == set(want)
    for key, t in want.items():
        assert state[key].dtype == t.dtype, key
        assert torch.equal(state[key], t), key
    assert state["shared.weight"].data_ptr() == state["decoder.embed_tokens.weight"].data_ptr()

    opt = json.loads(Path(f"{mf}.opt").read_text())
    assert opt["model_file"] == str(mf) and Path(opt["model_file"]).is_file()
    assert Path(opt["dict_file"]).read_text() == "hello\t3\nworld\t2\n"
    for key, expect in (("generator", "model.hf/generator"),
                        ("query_encoder", "model.hf/query_encoder"), ("index_dir", "index")):
        assert opt[key] == str(mf.parent / expect) and Path(opt[key]).is_dir(), key
    assert (Path(opt["generator"]) / "vocab.txt").is_file()
    assert opt["init_model"] is None and "datapath" not in opt
    assert not (mf.parent / "model.safetensors").exists()
    return opt


# ---------------------------------------------------------------- round trips


def test_pack_then_install_archive_round_trip(model, archive, tmp_path):
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[0] == "card.json"
    assert "model" not in names and "model.safetensors" in names  # the pickle never ships
    assert {"model.opt", "model.dict", "MODEL_CARD.md", "index/index.faiss", "index/meta.json",
            "index/passages.jsonl", "model.hf/generator/config.json"} <= set(names)

    dest = tmp_path / "zoo"
    mf = zoo.install(archive, dest=dest)
    opt = assert_installed(mf, model, dest)
    import faiss

    assert faiss.read_index(str(Path(opt["index_dir"]) / "index.faiss")).ntotal == 3

    card = json.loads((mf.parent / "card.json").read_text())
    assert card["name"] == "tiny-rag" and card["weights"]["tied"] == 2
    assert card["files"]["model.dict"]["sha256"] == sha256_file(model.with_name("model.dict"))
    assert card["metrics"]["rag_token"]["test_unseen"]["kf1"] == 0.42
    assert card["index"]["packed"] and card["index"]["meta"]["count"] == 3
    text = (mf.parent / "MODEL_CARD.md").read_text()
    assert "| rag_token | test_unseen | 0.31 | 0.42 | 0.15 |" in text
    assert "parlai eval_model -mf MF -t rag_dialogue.tasks.vital_articles" in text
    assert "rag-dialogue chat -mf MF" in text


def test_install_from_unpacked_directory(model, archive, tmp_path):
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    mf = zoo.install(unpacked, dest=tmp_path / "zoo")
    assert_installed(mf, model, tmp_path / "zoo")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_install_from_http_url_on_loopback(model, archive, tmp_path, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    handler = functools.partial(_QuietHandler, directory=str(archive.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        mf = zoo.install(f"{base}/{archive.name}", dest=tmp_path / "zoo")
        assert_installed(mf, model, tmp_path / "zoo")
        with pytest.raises(FileNotFoundError, match="HTTP 404"):
            zoo.install(f"{base}/missing.tar.gz", dest=tmp_path / "zoo2")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    # the temporary download is gone
    assert not [p for p in (tmp_path / "zoo").iterdir() if p.name.startswith(".")]


def fill_hub_cache(cache: Path, repo_id: str, files: Path) -> Path:
    """Lay out `files` as the Hub cache does: blobs, snapshot symlinks, refs/main, tree listing."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (files / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    tree = {}
    for path in sorted(p for p in files.rglob("*") if p.is_file()):
        rel, data = path.relative_to(files).as_posix(), path.read_bytes()
        blob_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        entry = {"size": len(data), "blob_id": blob_id}
        if rel.endswith(".safetensors"):  # LFS files are stored under their sha256
            entry.update(lfs_sha256=hashlib.sha256(data).hexdigest(), lfs_size=len(data))
        blob = repo / "blobs" / entry.get("lfs_sha256", blob_id)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
        tree[rel] = entry
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (repo / "trees").mkdir()
    (repo / "trees" / f"{commit}.json").write_text(json.dumps({"format_version": 1, "files": tree}))
    return repo / "snapshots" / commit


def test_install_from_hub_repo_through_local_cache(model, archive, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    files = tmp_path / "repo_files"
    with tarfile.open(archive) as tar:
        tar.extractall(files, filter="data")
    cache = tmp_path / "hf" / "hub"
    snapshot = fill_hub_cache(cache, "zoo-owner/tiny-rag", files)
    assert (snapshot / "model.safetensors").is_symlink()
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads these once at import, which an earlier test may have done
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)

    mf = zoo.install("zoo-owner/tiny-rag", dest=tmp_path / "zoo")
    assert_installed(mf, model, tmp_path / "zoo")
    assert not (mf.parent / ".gitattributes").exists()  # only card-listed files are installed
    with pytest.raises(FileNotFoundError, match="zoo-owner/absent"):
        zoo.install("zoo-owner/absent", dest=tmp_path / "zoo")


# ---------------------------------------------------------------- refusals


def rewrite_tar(src: Path, out: Path, change=None, extra=()):
    """Copy an archive, optionally changing one member's bytes and appending raw entries."""
    with tarfile.open(src) as tin, tarfile.open(out, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()
            if change and m.name == change[0]:
                data = change[1](data)
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))
        for info, data in extra:
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def test_tampered_archive_member_is_named(archive, tmp_path):
    edit = ("index/passages.jsonl", lambda d: d.replace(b"passage 1", b"passage X"))
    bad = rewrite_tar(archive, tmp_path / "bad.tar.gz", change=edit)
    with pytest.raises(ValueError, match=r"index/passages.jsonl: checksum mismatch"):
        zoo.install(bad, dest=tmp_path / "zoo")
    assert not (tmp_path / "zoo" / "tiny-rag").exists()
    assert not list((tmp_path / "zoo").iterdir())  # the staging dir was removed


def test_tampered_or_missing_file_in_directory_is_named(archive, tmp_path):
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    with open(unpacked / "model.dict", "a") as f:
        f.write("evil\t1\n")
    with pytest.raises(ValueError, match=r"model.dict: checksum mismatch"):
        zoo.install(unpacked, dest=tmp_path / "zoo")
    (unpacked / "index" / "meta.json").unlink()
    with pytest.raises(ValueError, match=r"index/meta.json: listed in card.json but missing"):
        zoo.install(unpacked, dest=tmp_path / "zoo")
    assert not (tmp_path / "zoo" / "tiny-rag").exists()


def _entry(name, kind="file", linkname=""):
    info = tarfile.TarInfo(name)
    info.type = {"file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                 "device": tarfile.CHRTYPE}[kind]
    info.linkname = linkname
    data = b"owned\n" if kind == "file" else None
    info.size = len(data) if data else 0
    return info, data


@pytest.mark.parametrize("entry, named", [
    (_entry("../evil"), "../evil"),
    (_entry("index/../../evil"), "index/../../evil"),
    (_entry("/tmp/evil-abs"), "/tmp/evil-abs"),
    (_entry("model.hf/generator/v.txt", "symlink", "/etc/passwd"), "model.hf/generator/v.txt"),
    (_entry("index/hard", "hardlink", "model.dict"), "index/hard"),
    (_entry("index/dev", "device"), "index/dev"),
])
def test_unsafe_archive_entries_are_rejected_before_writing(archive, tmp_path, entry, named):
    bad = rewrite_tar(archive, tmp_path / "bad.tar.gz", extra=[entry])
    with tarfile.open(bad) as tar:
        assert tar.getnames()[-1] == named  # the entry really is in the archive as written
    dest = tmp_path / "zoo"
    with pytest.raises(ValueError, match="refusing to install") as err:
        zoo.install(bad, dest=dest)
    assert named in str(err.value)
    assert not dest.exists()
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil-abs").exists()


def _relist(unpacked: Path):
    """Recompute card.json's file list, as an attacker who controls the archive would."""
    card = json.loads((unpacked / "card.json").read_text())
    card["files"] = {p.relative_to(unpacked).as_posix(): {"sha256": sha256_file(p),
                                                           "bytes": p.stat().st_size}
                     for p in unpacked.rglob("*") if p.is_file() and p.name != "card.json"}
    (unpacked / "card.json").write_text(json.dumps(card))


def test_pickles_and_symlinks_in_a_directory_are_refused(archive, tmp_path):
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    dest = tmp_path / "zoo"

    (unpacked / "model.hf" / "generator" / "pytorch_model.bin").write_bytes(pickle.dumps({"w": 1}))
    _relist(unpacked)
    with pytest.raises(ValueError, match="pytorch_model.bin: not a file a shared model may carry"):
        zoo.install(unpacked, dest=dest)
    (unpacked / "model.hf" / "generator" / "pytorch_model.bin").unlink()

    # ParlAI falls back to unpickling a .opt that is not JSON
    (unpacked / "model.opt").write_bytes(pickle.dumps({"model": "x"}))
    _relist(unpacked)
    with pytest.raises(ValueError, match="model.opt: not JSON"):
        zoo.install(unpacked, dest=dest)
    assert not (dest / "tiny-rag").exists()

    (unpacked / "index" / "leak").symlink_to(tmp_path / "src" / "runs" / "tiny-rag" / "model.dict")
    with pytest.raises(ValueError, match="index/leak: is a link"):
        zoo.install(unpacked, dest=dest)


def test_existing_install_needs_force(model, archive, tmp_path):
    dest = tmp_path / "zoo"
    mf = zoo.install(archive, dest=dest)
    (mf.parent / "stale").write_text("x")
    with pytest.raises(ValueError, match="already exists; pass --force"):
        zoo.install(archive, dest=dest)
    assert zoo.install(archive, dest=dest, force=True) == mf
    assert not (mf.parent / "stale").exists()
    assert_installed(mf, model, dest)


# ---------------------------------------------------------------- --no-index, CLI, ParlAI


def test_no_index_card_holds_a_pointer(model, tmp_path, capsys):
    out = zoo.pack(model, tmp_path / "noidx.tar.gz", include_index=False)
    index = tmp_path / "src" / "index"
    with tarfile.open(out) as tar:
        assert not [n for n in tar.getnames() if n.startswith("index/")]
        card = json.loads(tar.extractfile("card.json").read())
    assert card["index"] == {"packed": False, "path": str(index.resolve()),
                             "meta": json.loads((index / "meta.json").read_text()),
                             "meta_sha256": sha256_file(index / "meta.json")}
    mf = zoo.install(out, dest=tmp_path / "zoo")
    assert json.loads(Path(f"{mf}.opt").read_text())["index_dir"] == str(index.resolve())
    assert f"original index was at `{index.resolve()}`" in (mf.parent / "MODEL_CARD.md").read_text()
    assert "index" not in capsys.readouterr().err  # the pointed-at index exists here

    index.rename(tmp_path / "moved")
    zoo.install(out, dest=tmp_path / "zoo", force=True)
    assert f"{index.resolve()} does not exist here" in capsys.readouterr().err


def test_cli_prints_the_model_file_path_last(model, tmp_path, capsys):
    from rag_dialogue.cli import main

    out = tmp_path / "cli.tar.gz"
    assert main(["zoo", "pack", str(model), str(out), "--name", "tiny-rag"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(out)
    assert main(["zoo", "install", str(out), "--dest", str(tmp_path / "zoo")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == str(tmp_path / "zoo" / "tiny-rag" / "model")
    assert Path(printed[-1]).is_file()
    assert main(["zoo", "install", str(out), "--dest", str(tmp_path / "zoo")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_parlai_eval_model_loads_the_installed_model(tmp_path):
    """A real ParlAI model file survives pack/install: eval_model on it scores the same."""
    import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
    from parlai.scripts.eval_model import EvalModel
    from parlai.scripts.train_model import TrainModel

    common = dict(task="integration_tests:overfit", datapath=str(tmp_path / "data"),
                  skip_generation=True, batchsize=2)
    run = tmp_path / "parlai" / "tiny-transformer"
    TrainModel.main(model="transformer/generator", model_file=str(run / "model"), n_layers=1,
                    embedding_size=8, ffn_size=16, n_heads=1, max_train_steps=2, truncate=16,
                    validation_every_n_steps=-1, short_final_eval=True, validation_max_exs=4,
                    **common)
    before = EvalModel.main(model_file=str(run / "model"), **common)
    mf = zoo.install(zoo.pack(run / "model", tmp_path / "t.tar.gz"), dest=tmp_path / "zoo")
    assert json.loads((mf.parent / "card.json").read_text())["weights"]["tied"] == 2
    after = EvalModel.main(model_file=str(mf), **common)
    assert after["exs"].value() == before["exs"].value() > 0
    assert after["ppl"].value() == pytest.approx(before["ppl"].value(), rel=1e-6)
