"""Tests for rag_dialogue.generator: loading seq2seq generators and the BERT -> BART warm start."""

import argparse
import json

import pytest
import torch

from rag_dialogue import generator as gen
from rag_dialogue.generator import (
    default_generator_dir,
    generator_special_ids,
    load_generator,
    warm_start_bart_from_bert,
)

CLS, SEP, PAD = 101, 102, 0


@pytest.fixture(scope="module")
def bert_dir(tiny_encoder_dir, tmp_path_factory):
    """The tiny BERT with every weight perturbed: LayerNorms away from identity, biases
    and the token-type embedding non-zero, so a mapping that drops any of them shows."""
    from transformers import AutoTokenizer, BertModel

    torch.manual_seed(1)
    bert = BertModel.from_pretrained(tiny_encoder_dir)
    with torch.no_grad():
        for name, p in bert.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.add_(0.05 * torch.randn_like(p))
    out = tmp_path_factory.mktemp("perturbed_bert")
    bert.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def bert(bert_dir):
    from transformers import BertModel

    # BART's LayerNorms have eps 1e-5 (not configurable); give BERT the same to compare exactly.
    return BertModel.from_pretrained(bert_dir, layer_norm_eps=1e-5).eval()


@pytest.fixture(scope="module")
def warm_dir(bert_dir, tmp_path_factory):
    return warm_start_bart_from_bert(bert_dir, tmp_path_factory.mktemp("warm") / "bart", max_positions=100)


@pytest.fixture(scope="module")
def warm(warm_dir):
    return load_generator(str(warm_dir))


def _batch(tokenizer, texts):
    return tokenizer(texts, return_tensors="pt", padding=True)


def test_encoder_reproduces_bert(bert, warm):
    model, tokenizer = warm
    batch = _batch(tokenizer, [
        "the eiffel tower is a wrought-iron lattice tower on the champ de mars in paris , france .",
        "hello there",
    ])
    assert "token_type_ids" not in batch  # type 0 lives in BART's positions
    with torch.no_grad():
        expected = bert(**batch).last_hidden_state  # token types default to 0
        got = model.get_encoder()(**batch).last_hidden_state
    mask = batch["attention_mask"].bool()
    assert mask.sum() > 20  # long enough that a wrong position offset would show
    torch.testing.assert_close(got[mask], expected[mask], atol=1e-5, rtol=1e-5)


def test_every_weight_comes_from_bert(bert, warm):
    model, _ = warm
    b = bert.state_dict()
    s = model.state_dict()
    word = b["embeddings.word_embeddings.weight"]
    folded = b["embeddings.position_embeddings.weight"][:100] + b["embeddings.token_type_embeddings.weight"][0]
    for side in ("encoder", "decoder"):
        table = s[f"model.{side}.embed_positions.weight"]
        assert table.shape == (102, 32)
        torch.testing.assert_close(table[2:], folded)
        assert torch.isfinite(table[:2]).all()
        torch.testing.assert_close(s[f"model.{side}.layernorm_embedding.weight"], b["embeddings.LayerNorm.weight"])
        torch.testing.assert_close(s[f"model.{side}.embed_tokens.weight"], word)
    torch.testing.assert_close(s["lm_head.weight"], word)
    assert model.lm_head.weight.data_ptr() == model.model.shared.weight.data_ptr()  # tied, not copied
    assert not s["final_logits_bias"].any()

    attn = {"q_proj": "attention.self.query", "k_proj": "attention.self.key",
            "v_proj": "attention.self.value", "out_proj": "attention.output.dense"}
    for i in range(2):
        src = f"encoder.layer.{i}"
        for p in ("weight", "bias"):
            for proj, name in attn.items():
                w = b[f"{src}.{name}.{p}"]
                torch.testing.assert_close(s[f"model.encoder.layers.{i}.self_attn.{proj}.{p}"], w)
                torch.testing.assert_close(s[f"model.decoder.layers.{i}.self_attn.{proj}.{p}"], w)
                torch.testing.assert_close(s[f"model.decoder.layers.{i}.encoder_attn.{proj}.{p}"], w)
            norm = b[f"{src}.attention.output.LayerNorm.{p}"]
            for side, key in (("encoder", "self_attn_layer_norm"), ("decoder", "self_attn_layer_norm"),
                              ("decoder", "encoder_attn_layer_norm")):
                torch.testing.assert_close(s[f"model.{side}.layers.{i}.{key}.{p}"], norm)
            for side in ("encoder", "decoder"):
                layer = f"model.{side}.layers.{i}"
                torch.testing.assert_close(s[f"{layer}.fc1.{p}"], b[f"{src}.intermediate.dense.{p}"])
                torch.testing.assert_close(s[f"{layer}.fc2.{p}"], b[f"{src}.output.dense.{p}"])
                torch.testing.assert_close(s[f"{layer}.final_layer_norm.{p}"], b[f"{src}.output.LayerNorm.{p}"])


def test_config_follows_bert(warm, warm_dir):
    model, tokenizer = warm
    c = model.config
    assert type(model).__name__ == "BartForConditionalGeneration"
    assert (c.d_model, c.encoder_layers, c.decoder_layers) == (32, 2, 2)
    assert (c.encoder_attention_heads, c.decoder_attention_heads, c.encoder_ffn_dim, c.decoder_ffn_dim) == (2, 2, 64, 64)
    assert c.activation_function == "gelu" and c.scale_embedding is False
    assert c.vocab_size == len(tokenizer) == 30522 and c.tie_word_embeddings
    assert (c.pad_token_id, c.bos_token_id, c.eos_token_id, c.decoder_start_token_id) == (PAD, CLS, SEP, CLS)
    assert c.forced_eos_token_id is None and model.generation_config.forced_bos_token_id is None
    assert (warm_dir / "model.safetensors").is_file()
    assert json.loads((warm_dir / gen.WARM_START_MARKER).read_text())["parameters"] == gen.count_parameters(model)


def test_special_ids_bart(warm, tiny_bart_dir):
    assert generator_special_ids(*warm) == {"pad": PAD, "start": CLS, "end": SEP}
    assert generator_special_ids(*load_generator(str(tiny_bart_dir))) == {"pad": PAD, "start": CLS, "end": SEP}


def test_special_ids_t5(tmp_path, tiny_encoder_dir):
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    # No sentencepiece offline: the MiniLM tokenizer stands in; the ids come from the T5 config.
    config = T5Config(vocab_size=30522, d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2)
    T5ForConditionalGeneration(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(tmp_path)
    model, tokenizer = load_generator(str(tmp_path))
    assert type(model).__name__ == "T5ForConditionalGeneration"
    assert generator_special_ids(model, tokenizer) == {"pad": 0, "start": 0, "end": 1}  # T5 starts with pad


def test_forward_with_labels_gives_finite_loss(warm):
    model, tokenizer = warm
    batch = _batch(tokenizer, ["paris is the capital of france .", "who built the tower ?"])
    # labels: the target then [SEP]; BART prepends the [CLS] start itself, so labels must not repeat it
    target = tokenizer(["paris .", "gustave eiffel"], add_special_tokens=False)["input_ids"]
    width = max(len(t) for t in target) + 1
    labels = torch.tensor([t + [SEP] + [-100] * (width - len(t) - 1) for t in target])
    model.train()
    try:
        out = model(**batch, labels=labels)
        out.loss.backward()
    finally:
        model.zero_grad()
        model.eval()
    assert torch.isfinite(out.loss) and out.loss > 0
    assert out.logits.shape == (2, width, 30522)


def test_load_errors(tmp_path, tiny_encoder_dir, warm_dir):
    missing = tmp_path / "no-such-generator"
    for name in (str(missing), "./no-such-generator", "../a/b/c"):
        with pytest.raises(FileNotFoundError, match="no-such-generator|a/b/c"):
            load_generator(name)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json.*found: nothing"):
        load_generator(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="'bert' model.*not a generator"):
        load_generator(str(tiny_encoder_dir))
    no_tok = tmp_path / "no_tok"
    no_tok.mkdir()
    for f in ("config.json", "model.safetensors"):
        (no_tok / f).write_bytes((warm_dir / f).read_bytes())
    with pytest.raises(ValueError, match="no tokenizer vocabulary"):
        load_generator(str(no_tok))


def test_hub_ids_are_not_paths():
    assert not gen._looks_local("facebook/bart-base") and not gen._looks_local("t5-small")
    assert gen._looks_local("/abs/path") and gen._looks_local("./x") and gen._looks_local("a/b/c")


def test_warm_start_errors(tmp_path, warm_dir, tiny_encoder_dir):
    with pytest.raises(FileNotFoundError, match="nope"):
        warm_start_bart_from_bert(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(ValueError, match="'bart' model.*needs a BERT"):
        warm_start_bart_from_bert(warm_dir, tmp_path / "out")
    with pytest.raises(ValueError, match="max_positions"):
        warm_start_bart_from_bert(tiny_encoder_dir, tmp_path / "out", max_positions=129)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="refusing to replace"):
        warm_start_bart_from_bert(tiny_encoder_dir, precious, max_positions=64)
    assert (precious / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "out").exists()


def test_warm_start_is_atomic(tmp_path, tiny_encoder_dir, monkeypatch):
    from transformers import BartForConditionalGeneration

    def crash(self, path, **kwargs):
        path.mkdir(parents=True)
        (path / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(BartForConditionalGeneration, "save_pretrained", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        warm_start_bart_from_bert(tiny_encoder_dir, tmp_path / "out", max_positions=64)
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary is left


def test_cli_init(tmp_path, tiny_encoder_dir, capsys):
    parser = argparse.ArgumentParser(prog="rag-dialogue")
    gen.add_subparser(parser.add_subparsers(dest="command"))
    out = tmp_path / "g"

    def run(*extra):
        args = parser.parse_args(["generator", "init", "--from", str(tiny_encoder_dir), "--out", str(out), *extra])
        return args.func(args)

    assert run("--max-positions", "64") == 0
    first = capsys.readouterr().out
    assert str(out) in first and "parameters" in first
    assert load_generator(str(out))[0].config.max_position_embeddings == 64
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert run() == 0
    assert "already" in capsys.readouterr().out and (out / "model.safetensors").stat().st_mtime_ns == stamp
    assert run("--force", "--max-positions", "100") == 0
    assert load_generator(str(out))[0].config.max_position_embeddings == 100


def test_default_generator_is_minilm_bart(tmp_path, monkeypatch):
    """The real packaged MiniLM warm-starts into a ~37M-parameter BART that generates."""
    from transformers import BertModel

    from rag_dialogue.paths import default_encoder_path

    monkeypatch.setenv("RAG_DIALOGUE_HOME", str(tmp_path))
    path = default_generator_dir()
    assert path == tmp_path / "generators" / "minilm-bart"
    model, tokenizer = load_generator(str(path))
    n = gen.count_parameters(model)
    assert 36e6 < n < 38e6, n
    assert (model.config.d_model, model.config.encoder_layers, model.config.decoder_layers) == (384, 6, 6)

    batch = tokenizer(["the eiffel tower is in paris ."], return_tensors="pt")
    with torch.no_grad():
        # BERT's real LayerNorm eps (1e-12) against BART's 1e-5: a small, bounded difference
        minilm = BertModel.from_pretrained(default_encoder_path()).eval()
        diff = (model.get_encoder()(**batch).last_hidden_state - minilm(**batch).last_hidden_state).abs().max()
        assert diff < 1e-2, diff
        out = model.generate(**batch, max_new_tokens=8, num_beams=1, do_sample=False)
    ids = out[0].tolist()
    assert ids[0] == CLS and (ids[-1] == SEP or len(ids) == 9)
    assert all(0 <= i < 30522 for i in ids)

    # second call reuses the directory instead of rebuilding
    monkeypatch.setattr(gen, "warm_start_bart_from_bert", lambda *a, **k: pytest.fail("rebuilt"))
    assert default_generator_dir() == path
