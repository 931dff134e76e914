"""Generator inputs: `title / text // history`, with the newest history kept."""

import torch
from transformers import AutoTokenizer, BartForConditionalGeneration

from rag_dialogue.backends import context_ids
from rag_dialogue.model import RagModel


def test_context_ids_keep_the_newest_history_and_half_the_budget_for_knowledge():
    passage, history = list(range(100, 120)), list(range(1, 31))
    ids = context_ids(passage, history, max_len=24)
    assert len(ids) == 24
    assert ids[:12] == passage[:12]  # the passage keeps at least half
    assert ids[12:] == history[-12:]  # the newest turn survives
    assert context_ids(passage[:3], history[:4], 24) == passage[:3] + history[:4]


def test_contexts_are_title_text_separator_history(tiny_bart_dir):
    tok = AutoTokenizer.from_pretrained(tiny_bart_dir)
    generator = BartForConditionalGeneration.from_pretrained(tiny_bart_dir)
    model = RagModel(generator, tok, {"pad": 0, "start": 101, "end": 102}, rag_type="gold",
                     max_context_len=40, passage_truncate=6)
    history = tok.encode("an old turn. what year was it built?", add_special_tokens=False)
    rows, _ = model._contexts(torch.tensor([history]), [[("Eiffel Tower", "It was built in 1889 in Paris.")]])
    text = tok.decode(rows[0])
    passage = tok.encode("Eiffel Tower / It was built in 1889 in Paris.", add_special_tokens=False)
    assert rows[0].tolist() == [101] + passage[:6] + tok.encode(" //", add_special_tokens=False) + history + [102]
    assert text == "[CLS] eiffel tower / it / / an old turn. what year was it built? [SEP]"


def test_retrieval_passes_over_passages_the_dialogue_already_holds():
    import numpy as np
    from types import SimpleNamespace

    from rag_dialogue.model import RagModel

    store = [SimpleNamespace(text=t) for t in (
        "Bermuda is a British Overseas Territory.", "Its capital is Hamilton.",
        "It lies in the North Atlantic.", "The island was settled in 1612.")]
    model = SimpleNamespace(retriever=SimpleNamespace(store=store), n_docs=2)
    said = "Bermuda\nWhat is Bermuda?\nWell, bermuda is a British overseas territory!\nTell me more."
    rows = RagModel._unsaid(model, np.array([0, 1, 2, 3]), said)
    assert rows.tolist() == [1, 2]
    # a paraphrase of a passage counts as said too
    said = "Tell me about it.\nSure! Bermuda is a British island territory.\nAnd?"
    assert RagModel._unsaid(model, np.array([0, 1, 2, 3]), said).tolist() == [1, 2]
    # nothing new among the candidates: the best ones are kept rather than nothing
    assert RagModel._unsaid(model, np.array([0, 0]), said).tolist() == [0, 0]
