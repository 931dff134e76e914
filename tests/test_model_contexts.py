"""Generator inputs: `title / text // history`, with the newest history kept."""

import torch
from transformers import AutoTokenizer, BartForConditionalGeneration

from rag_dialogue.backends import context_ids, without_passage_header
from rag_dialogue.model import RagModel


def test_context_ids_keep_the_newest_history_and_half_the_budget_for_knowledge():
    passage, history = list(range(100, 120)), list(range(1, 31))
    ids = context_ids(passage, history, max_len=24)
    assert len(ids) == 24
    assert ids[:12] == passage[:12]  # the passage keeps at least half
    assert ids[12:] == history[-12:]  # the newest turn survives
    assert context_ids(passage[:3], history[:4], 24) == passage[:3] + history[:4]


def test_a_reply_loses_the_passage_header_it_copied():
    titles = ["Beer", "Brewing"]
    assert without_passage_header("Beer / Beer is brewed from cereal grains.", titles) == \
        "Beer is brewed from cereal grains."
    # only a passage's title leads so; a slash of the reply's own stays
    assert without_passage_header("Rock / pop music is loud.", titles) == "Rock / pop music is loud."
    assert without_passage_header("Ales and/or lagers / stouts.", titles) == "Ales and/or lagers / stouts."
    assert without_passage_header("Beer / ", titles) == "Beer / "  # nothing after it: left as it is
    assert without_passage_header("Beer / Beer.", []) == "Beer / Beer."
    # a stutter of the title before it (a chat reply)
    festival = ["Festival of Lanterns of Orvieda"]
    assert without_passage_header("Orvieda Festival of Lanterns of Orvieda / Participants release lanterns.",
                                  festival) == "Participants release lanterns."
    assert without_passage_header("I like Beer / stouts.", titles) == "I like Beer / stouts."


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


def test_gold_retrieval_loss_is_cross_entropy_towards_the_retrieved_gold():
    from types import SimpleNamespace

    from rag_dialogue.agent import RagDialogueAgent
    from rag_dialogue.model import Retrieval
    from rag_dialogue.retrieval.passages import Passage

    def passages(*texts):
        return Retrieval([Passage(str(i), "T", t) for i, t in enumerate(texts)], [0.0] * len(texts))

    recorded = {}
    stub = SimpleNamespace(
        model=SimpleNamespace(last_retrieval=[passages("Sky is blue.", "Grass is green!"),
                                              passages("Sky is blue.", "Grass is green."),
                                              passages("Sky is blue.", "Grass is green.")]),
        record_local_metric=lambda name, values: recorded.update({name: [v.value() for v in values]}))
    batch = SimpleNamespace(observations=[
        {"checked_sentence": "grass is green", "title": "T"},  # second passage holds it
        {"checked_sentence": "Snow is white.", "title": "T"},  # not retrieved: does not count
        {"checked_sentence": "no_passages_used", "title": "no_passages_used"},  # no gold
    ])
    scores = torch.tensor([[1.0, 2.0], [0.0, 5.0], [3.0, 3.0]], requires_grad=True)
    loss = RagDialogueAgent._gold_retrieval_loss(stub, batch, scores)
    assert torch.isclose(loss, -torch.log_softmax(torch.tensor([1.0, 2.0]), -1)[1])
    assert recorded["gold_in_retrieved"] == [1, 0, 0]
    loss.backward()
    assert scores.grad[0, 1] < 0 < scores.grad[0, 0] and not scores.grad[1:].any()


def test_one_sentence_of_a_paragraph_passage_is_said_not_the_paragraph():
    """After "Sennet bread is a flat rye bread from ...", the follow-up "How is it baked?" was
    declined: the whole paragraph counted as said, so retrieval passed it over."""
    from types import SimpleNamespace

    from rag_dialogue.agent import RagDialogueAgent
    from rag_dialogue.retrieval.query import fresh_first

    paragraph = ("Sennet bread is a flat rye bread from the coastal region of Lorvaig. It is baked on hot stones "
                 "and flavoured with caraway and seaweed. The bread is eaten with smoked herring.")
    sentence = "Rye is a grass grown extensively as a grain."
    retrieval = SimpleNamespace(passages=[SimpleNamespace(text=paragraph), SimpleNamespace(text=sentence)])
    reply = "Sennet bread is a flat rye bread from the coastal region of Lorvaig."
    said = RagDialogueAgent._said_parts(reply, retrieval)
    assert said == [reply]
    texts = [paragraph, sentence]
    assert list(fresh_first([0, 1], "\n".join(said), texts.__getitem__, 2)) == [0, 1]  # still found
    assert list(fresh_first([0, 1], paragraph, texts.__getitem__, 2)) == [1, 0]  # as it was: passed over
    # a one-sentence passage a reply paraphrases is said whole, as before
    assert RagDialogueAgent._said_parts("Rye is a grass grown as a grain.", retrieval) == [sentence]
