"""The agent with a decoder-only generator through ParlAI's scripts: train only the top
layer, save without the base weights, reload, evaluate, swap the index, share."""

import json
from pathlib import Path

import pytest
import torch

from test_agent_e2e import tiny_task  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_causal(tmp_path_factory, tiny_task, tiny_index, tiny_llama_dir):  # noqa: F811
    from parlai.scripts.train_model import TrainModel

    model_file = tmp_path_factory.mktemp("causal_model") / "model"
    TrainModel.main(
        model="rag_dialogue.agent:RagDialogueAgent", model_file=str(model_file),
        task="fromfile:parlaiformat", fromfile_datapath=str(tiny_task),
        generator=str(tiny_llama_dir), generator_train_layers=1, bf16_autocast=True,
        index_dir=str(tiny_index), n_docs=2, query_encoder_lr_scale=0.1,
        batchsize=4, max_train_steps=4, validation_every_n_steps=4, validation_max_exs=4,
        learningrate=1e-3, optimizer="adamw", skip_generation=True, datapath=str(model_file.parent),
        label_truncate=16,
    )
    return model_file


def test_model_file_leaves_the_frozen_base_out(trained_causal, tiny_llama_dir):
    from safetensors.torch import load_file

    saved = torch.load(trained_causal, map_location="cpu", weights_only=False)["model"]
    generator_keys = {k for k in saved if k.startswith("generator.")}
    assert generator_keys and all(".layers.1." in k or k == "generator.model.norm.weight"
                                  for k in generator_keys), sorted(generator_keys)
    assert any(k.startswith("query_encoder.") for k in saved)
    base = json.loads(Path(f"{trained_causal}.hf/generator/base.json").read_text())
    assert base["name"] == str(tiny_llama_dir.resolve()) and len(base["sha256"]) == 64

    from parlai.core.agents import create_agent_from_model_file

    agent = create_agent_from_model_file(str(trained_causal))
    state = agent.model.state_dict()
    original = load_file(str(tiny_llama_dir / "model.safetensors"))
    for key, value in original.items():  # frozen weights come from the base, trained ones from the file
        ours = state[f"generator.{key}"]
        expected = saved.get(f"generator.{key}", value)
        assert torch.equal(ours, expected), key
    assert not torch.equal(state["generator.model.layers.1.mlp.up_proj.weight"],
                           original["model.layers.1.mlp.up_proj.weight"])  # it did train


def test_int8_inference_quantizes_after_loading_and_only_to_generate(trained_causal, tmp_path):
    """`--int8-inference`: the trained weights are loaded first and then quantized (the
    decoder layers and the output layer); an agent that may train or save is left float,
    and a quantized one refuses to save."""
    from parlai.core.agents import create_agent_from_model_file

    float_agent = create_agent_from_model_file(str(trained_causal), {"datatype": "valid"})
    int8_agent = create_agent_from_model_file(str(trained_causal), {"datatype": "valid", "int8_inference": True})
    assert float_agent.int8_layers == 0 and int8_agent.int8_layers == 2
    assert int8_agent.model.backend._int8_head is not None
    torch.manual_seed(0)
    hidden = torch.randn(64, 1, float_agent.model.generator.config.hidden_size)
    with torch.no_grad():
        exact = float_agent.model.backend.project(hidden).log_softmax(-1)
        quantized = int8_agent.model.backend.project(hidden).log_softmax(-1)
    assert torch.nn.functional.kl_div(quantized, exact, log_target=True, reduction="batchmean") < 0.01
    # the same choice wherever fp32's is not a near tie (a tiny random model's logits are flat)
    top2 = exact.topk(2, dim=-1).values
    clear = (top2[..., 0] - top2[..., 1]) > 0.02
    assert clear.sum() >= 5
    assert torch.equal(quantized.argmax(-1)[clear], exact.argmax(-1)[clear])
    with pytest.raises(RuntimeError, match="cannot save"):
        int8_agent.save(str(tmp_path / "model"))
    assert not (tmp_path / "model").exists()
    training = create_agent_from_model_file(str(trained_causal), {"datatype": "train", "int8_inference": True})
    assert training.int8_layers == 0 and training.model.backend._int8_head is None


def test_eval_reports_recall(trained_causal, tiny_task):  # noqa: F811
    from parlai.scripts.eval_model import EvalModel

    report = EvalModel.main(
        model_file=str(trained_causal), task="fromfile:parlaiformat", fromfile_datapath=str(tiny_task),
        batchsize=4, inference="greedy", label_truncate=8, skip_generation=False,
        datapath=str(trained_causal.parent), beam_block_ngram=3,
    )
    for metric in ("ppl", "f1", "recall@2"):
        assert metric in report, metric
    assert report["exs"] == 12


def test_index_dir_override_swaps_the_index(trained_causal, tmp_path, passages_file, tiny_encoder_dir):
    from parlai.core.agents import create_agent_from_model_file

    from rag_dialogue.retrieval.retriever import build_index

    other_passages = tmp_path / "other.jsonl"
    other_passages.write_text(json.dumps({"id": "z1", "title": "Zorblat Sea",
                                          "text": "The Zorblat Sea is 41 km wide."}) + "\n"
                              + passages_file.read_text())
    other = build_index(other_passages, tmp_path / "other_index",
                        encoder_name_or_path=str(tiny_encoder_dir), show_progress=False)
    agent = create_agent_from_model_file(str(trained_causal), {"index_dir": str(other)})
    store = agent.model.retriever.store
    assert any(store[i].title == "Zorblat Sea" for i in range(len(store)))


def test_a_changed_base_is_refused(trained_causal, tmp_path):
    import shutil

    from parlai.core.agents import create_agent_from_model_file

    copy = tmp_path / "model"
    for suffix in ("", ".opt", ".dict"):
        shutil.copy(f"{trained_causal}{suffix}", f"{copy}{suffix}")
    shutil.copytree(f"{trained_causal}.hf", f"{copy}.hf")
    base_file = Path(f"{copy}.hf/generator/base.json")
    base_file.write_text(json.dumps({**json.loads(base_file.read_text()), "sha256": "f" * 64}))
    with pytest.raises(ValueError, match="other weights than the model was trained on"):
        create_agent_from_model_file(str(copy))


def test_shared_causal_model_installs_small_and_evaluates_the_same(trained_causal, tiny_task, tmp_path):  # noqa: F811
    from parlai.scripts.eval_model import EvalModel

    from rag_dialogue import zoo

    archive = zoo.pack(trained_causal, tmp_path / "model.tar.gz")
    installed = zoo.install(archive, dest=tmp_path / "zoo")
    reports = [
        EvalModel.main(model_file=str(mf), task="fromfile:parlaiformat", fromfile_datapath=str(tiny_task),
                       batchsize=4, skip_generation=True, datapath=str(tmp_path))
        for mf in (trained_causal, installed)
    ]
    assert abs(reports[0]["ppl"].value() - reports[1]["ppl"].value()) < 1e-3


def test_madeup_articles_join_the_index_and_are_asked_about(trained_causal, tiny_index, tmp_path, capsys):  # noqa: F811
    from rag_dialogue import madeup
    from rag_dialogue.retrieval.index import DenseIndex

    index = madeup.build_index(tiny_index, tmp_path / "madeup_index")
    meta = DenseIndex.read_meta(index)
    assert meta["count"] == DenseIndex.read_meta(tiny_index)["count"] + len(madeup.passages())
    result = madeup.ask(trained_causal, index)
    questions = [q for a in madeup.ARTICLES for q, _ in a["questions"]]
    assert result["asked"] == len(questions) == len(result["exchanges"]) >= 15
    assert all(isinstance(e["reply"], str) for e in result["exchanges"])
    printed = capsys.readouterr().out
    assert all(q in printed for q in questions)
    # every question asks beyond its article's first sentence, and its fact is in the article
    for a in madeup.ARTICLES:
        for _, fact in a["questions"]:
            assert not madeup.states(a["text"][0], fact) and madeup.states(" ".join(a["text"]), fact)


def test_madeup_asks_about_articles_of_ones_own(trained_causal, tiny_index, tmp_path, capsys):
    import argparse

    from rag_dialogue import madeup
    from rag_dialogue.retrieval.index import DenseIndex

    own = tmp_path / "mine.jsonl"
    own.write_text(json.dumps({"title": "Pellingford", "text": "Pellingford is a town on the river Osk.",
                               "questions": [["Which river is Pellingford on?", "Osk"]]}) + "\n")
    args = argparse.Namespace(model_file=str(trained_causal), base_index=str(tiny_index),
                              out=str(tmp_path / "mine_index"), articles=str(own))
    assert madeup._main(args) == 0
    assert DenseIndex.read_meta(tmp_path / "mine_index")["count"] == DenseIndex.read_meta(tiny_index)["count"] + 1
    assert "Which river is Pellingford on?" in capsys.readouterr().out
    # a malformed article is named, with its file
    own.write_text(json.dumps({"title": "Pellingford", "questions": [["Which river?"]]}) + "\n")
    with pytest.raises(ValueError, match=r"mine.jsonl: article 1 needs"):
        madeup.read_articles(own)


def test_the_shipped_second_set_of_made_up_articles_reads_and_holds_its_facts():
    """tests/data/madeup_more_articles.jsonl: 11 more invented articles (some one paragraph,
    some sentences) and 50 questions in a stranger's words, for `madeup --articles`."""
    from pathlib import Path

    from rag_dialogue.madeup import passages, read_articles, states

    articles = read_articles(Path(__file__).parent / "data" / "madeup_more_articles.jsonl")
    assert len(articles) == 11 and sum(len(a["questions"]) for a in articles) == 50
    assert any(len(a["text"]) == 1 for a in articles) and len(passages(articles)) > len(articles)
    for a in articles:
        for question, fact in a["questions"]:
            assert states(" ".join(a["text"]), fact), (question, fact)


def test_a_fact_is_stated_as_whole_words():
    from rag_dialogue.madeup import states

    assert states("It is 87 metres tall.", "87 metres")
    assert not states("It is 187 metres tall.", "87 metres")
    assert states("Each team has Nine players!", "nine")
    assert states("Each quindle team has 9 players.", "nine") and not states("It has 19 players.", "nine")


def test_chat_declines_streams_and_keeps_parlai_quiet(trained_causal, tiny_index, capfd):
    import io

    from rag_dialogue import chat

    agent, banner = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log",
                                    print_docs=True, int8=True)
    assert "passages" in banner and str(tiny_index) in banner and "int8 decoder" in banner
    out = io.StringIO()
    turns = list(chat.converse(agent, iter([
        "Who wrote the opera The Glass Ferry?", "[DONE]", "Tell me about it.", "And what else?", "[EXIT]", "never read",
    ]), out=out))
    assert [t[0] for t in turns] == ["Who wrote the opera The Glass Ferry?", "Tell me about it.", "And what else?"]
    assert turns[0][1] == "I'm sorry, I don't know anything about The Glass Ferry."
    shown = out.getvalue()
    assert shown.count("[RagDialogue]: ") >= 3 and "(new conversation)" in shown  # (+1 per replaced reply)
    # the passages come after each whole reply, never inside a streamed one
    assert shown.count("[retrieved passages]") == 3
    assert all(line.startswith(("[RagDialogue]: ", "[retrieved passages]", "  ", "(new conversation)"))
               for line in shown.splitlines()), shown
    for _, reply, *_ in turns:  # every reply is shown whole, streamed or not
        assert f"[RagDialogue]: {reply}" in shown.replace("\n[RagDialogue]", "[RagDialogue]")
    console = capfd.readouterr()
    assert "INFO" not in console.out + console.err and "Overriding" not in console.out + console.err
    assert (trained_causal.parent / "chat.log").stat().st_size > 0  # ParlAI's chatter went there


def test_the_chat_answers_what_it_cannot_know_without_retrieving(trained_causal, tiny_index):
    """A question about the present moment, and an opening with nothing to talk about, are
    answered before anything is retrieved or generated; "why?" later in a conversation is
    asked of what was said, and generated."""
    import io

    from rag_dialogue import chat, small_talk

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    retrieve, calls = agent.model.retrieve, []

    def retrieve_and_count(*args, **kwargs):
        calls.append(args)
        return retrieve(*args, **kwargs)

    agent.model.retrieve = retrieve_and_count
    turns = list(chat.converse(agent, iter(["What's the weather like today?", "[DONE]", "why?"]), out=io.StringIO()))
    assert [reply for _, reply, *_ in turns] == [small_talk.NOT_NOW, small_talk.UNCLEAR] and not calls
    list(chat.converse(agent, iter(["[DONE]", "Tell me about the sky.", "why?"]), out=io.StringIO()))
    assert calls  # mid-conversation, "why?" asks about the reply before


def test_the_chat_retrieves_in_eval_mode_from_its_first_message(trained_causal, tiny_index):
    """The decline check retrieves before ParlAI's eval_step sets eval mode; with the query
    encoder's dropout on, one message got other passages each time it was sent."""
    import io

    from rag_dialogue import chat

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    retrieve, modes = agent.model.retrieve, []

    def retrieve_and_note(*args, **kwargs):
        modes.append(agent.model.query_encoder.training)
        return retrieve(*args, **kwargs)

    agent.model.retrieve = retrieve_and_note
    message = "Who wrote the opera The Glass Ferry?"
    turns = list(chat.converse(agent, iter([message, "[DONE]", message, "[DONE]", message]), out=io.StringIO()))
    assert modes and not any(modes)
    assert len({reply for _, reply, *_ in turns}) == 1


def test_the_chat_reads_a_question_typed_without_its_mark_as_one(trained_causal, tiny_index):
    """"who wrote the opera The Glass Ferry" is declined as its "?" form is: the checks that
    ask whether a message asks took it for a statement."""
    import io

    from rag_dialogue import chat

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    typed = list(chat.converse(agent, iter(["who wrote the opera The Glass Ferry"]), out=io.StringIO()))
    assert "who wrote the opera The Glass Ferry?" in agent.history.get_history_str()
    assert typed[0][1] == "I'm sorry, I don't know anything about The Glass Ferry."


def test_a_chat_reply_retrieves_once(trained_causal, tiny_index):
    """The decline check's passages are the ones generation reads: retrieving them again
    cost each reply a second query encoding and search."""
    import io

    from rag_dialogue import chat

    agent, _ = chat.load_agent(trained_causal, tiny_index, print_docs=True, log_file=trained_causal.parent / "chat.log")
    retrieve, calls = agent.model.retrieve, []

    def retrieve_and_count(*args, **kwargs):
        calls.append(args)
        return retrieve(*args, **kwargs)

    encoder, during_generation = agent.model.encoder, []

    def encode_and_count(inp):
        before = len(calls)
        state = encoder(inp)
        during_generation.append(len(calls) - before)
        return state

    agent.model.retrieve, agent.model.encoder = retrieve_and_count, encode_and_count
    (_, reply, *_), = chat.converse(agent, iter(["What do you like about it?"]), out=io.StringIO())
    assert reply and during_generation[0] == 0
    # a reply generated again (it repeated what was said) retrieves anew, the said passages passed over
    assert during_generation[1:] in ([], [1])


def test_a_question_asking_for_a_number_searches_two_hypotheses(trained_causal, tiny_index):
    """Greedy decoding widens to two hypotheses for a message that asks for a number a
    passage about what it names states (greedy search's reply stands where only it states
    one), and no sentence of the reply ends before one; other messages keep greedy search."""
    import io

    from rag_dialogue import chat
    from rag_dialogue.grounded_numbers import NUMBER_BEAMS

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    generate, beams, first_steps = agent.strategy.generate, [], []

    def generate_and_record(agent_, batch, beam_size, *args):
        beams.append(beam_size)
        return generate(agent_, batch, beam_size, *args)

    decoder = agent.model.decoder

    def decode_and_record(decoder_input, state, incr_state=None):
        log_probs, incr = decoder(decoder_input, state, incr_state)
        if decoder_input.size(1) == 1:
            first_steps.append(log_probs[:, -1])
        return log_probs, incr

    agent.strategy.generate, agent.model.decoder = generate_and_record, decode_and_record
    asked = "When was Alice's Adventures in Wonderland published?"  # its passage: "an 1865 English children's novel"
    list(chat.converse(agent, iter([asked]), out=io.StringIO()))
    # the tiny model's two hypotheses state no number, so greedy search is tried too
    assert beams[:2] == [NUMBER_BEAMS, 1]
    # before any word, the end and every piece that would end a sentence are closed
    ending = agent.model._ending_tokens()
    closed = first_steps[0] < -1e19  # -inf, or the -1e20 the generator gives its padding
    assert closed[:, ending].all() and not closed[:, ~ending].all()
    beams.clear(), first_steps.clear()
    list(chat.converse(agent, iter(["[DONE]", "What do you like about Alice's Adventures in Wonderland?"]),
                       out=io.StringIO()))
    assert beams and beams[0] == 1
    assert (first_steps[0][:, ending] > -1e19).any()


def test_rag_sequence_searches_each_passage_for_the_number_asked(trained_causal, tiny_index):
    """RAG-Sequence makes each (example, passage) pair a search of its own: the pairs wait
    for the number their example asks for (they once kept one flag per example, and the
    search's reordering ran past them)."""
    import io

    from rag_dialogue import chat
    from rag_dialogue.strategies import strategy_for

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log",
                               parlai_args=["--rag-type", "sequence"])
    agent.strategy = agent.model.strategy = strategy_for("sequence")
    waited = []
    decoder = agent.model.decoder

    def decode_and_record(decoder_input, state, incr_state=None):
        waited.append((decoder_input.size(0), state.awaited))
        return decoder(decoder_input, state, incr_state)

    agent.model.decoder = decode_and_record
    (_, reply, *_), = chat.converse(agent, iter(["When was Alice's Adventures in Wonderland published?"]),
                                    out=io.StringIO())
    assert reply
    rows, awaited = waited[0]
    assert awaited is not None and len(awaited) == rows and any(awaited)  # a flag per beam of each pair


def test_stream_printer_shows_whole_words_then_the_reply():
    import io

    from rag_dialogue.chat import StreamPrinter

    out = io.StringIO()
    printer = StreamPrinter(out)
    for text in ("The", "The Eiff", "The Eiffel Tower is", "The Eiffel Tower is tall"):
        printer.on_text(text)
    assert out.getvalue() == "[RagDialogue]: The Eiffel Tower is"  # "tall" may still grow
    printer.finish("The Eiffel Tower is tall.")
    assert out.getvalue() == "[RagDialogue]: The Eiffel Tower is tall.\n"
    printer.on_text("It was built in")
    printer.finish("I'm sorry, I don't know that.")  # replaced: shown whole on its own line
    assert out.getvalue().endswith("[RagDialogue]: It was built [taken back]\n[RagDialogue]: I'm sorry, I don't know that.\n")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    printer = StreamPrinter(screen)
    printer.on_text("It was built in")
    printer.finish("I'm sorry, I don't know that.")  # in a terminal the streamed words are erased
    assert screen.getvalue() == "[RagDialogue]: It was built\r\033[J[RagDialogue]: I'm sorry, I don't know that.\n"


def test_a_reply_ends_after_its_last_allowed_sentence(trained_causal, tiny_index):
    """ParlAI's own greedy search, through the agent's wrap: once the reply so far has its
    sentence, the end token wins over a likelier new word; before that, the new word does."""
    from rag_dialogue import chat

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log",
                               max_sentences=1)
    tok = agent.model.backend.tokenizer
    word, = tok.encode(" It", add_special_tokens=False)
    vocab = agent.model.backend.generator.get_output_embeddings().weight.size(0)

    def next_token(reply_so_far: str) -> int:
        tree = agent._treesearch_factory("cpu")
        ids = tok.encode(reply_so_far, add_special_tokens=False)
        tree.partial_hyps = torch.tensor([[tree.bos] + ids])
        tree.all_scores.extend([torch.zeros(1)] * len(ids))  # past min_length
        tree.outputs.extend([torch.tensor([i]) for i in ids])
        logprobs = torch.full((1, vocab), -20.0)
        logprobs[0, word], logprobs[0, tree.eos] = -0.1, -3.0
        tree.advance(logprobs, len(ids))
        return int(tree.outputs[-1][0])

    assert next_token("The tower is tall") == word
    assert next_token("The tower is tall.") == agent.END_IDX


def test_a_line_break_ends_the_reply(trained_causal, tiny_index):
    """ParlAI's greedy search, through the agent's wrap: a line break, likelier than the
    end token and a word, ends the reply instead of beginning another turn or a list."""
    from rag_dialogue import chat

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    tok = agent.model.backend.tokenizer
    word, = tok.encode(" It", add_special_tokens=False)
    newline = tok.encode("\n", add_special_tokens=False)[-1]
    vocab = agent.model.backend.generator.get_output_embeddings().weight.size(0)
    tree = agent._treesearch_factory("cpu")
    ids = tok.encode("The tower is tall.", add_special_tokens=False)
    tree.partial_hyps = torch.tensor([[tree.bos] + ids])
    tree.all_scores.extend([torch.zeros(1)] * len(ids))  # past min_length
    tree.outputs.extend([torch.tensor([i]) for i in ids])
    logprobs = torch.full((1, vocab), -20.0)
    logprobs[0, newline], logprobs[0, word], logprobs[0, tree.eos] = -0.7, -1.0, -3.0
    tree.advance(logprobs, len(ids))
    assert int(tree.outputs[-1][0]) == agent.END_IDX


def test_generation_holds_each_rows_numbers_to_its_passage(trained_causal, tiny_index):
    """The model's decoding step, with ParlAI's agent loaded from its model file: after
    "from 1707 to 1" the Fuji row may only go on to 1708 and the Pelée row to 1932, so the
    RAG-Token mixture is open to "7" and "9" alone; in training, numbers are free."""
    from rag_dialogue import chat
    from rag_dialogue.model import RagInput

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    model, tok = agent.model, agent.model.backend.tokenizer
    assert agent.opt["numbers_from_passages"] and model.numbers_from_passages
    inp = RagInput(history=torch.tensor([tok.encode("When did it last erupt?", add_special_tokens=False)]),
                   passages=[[("Mount Fuji", "It last erupted from 1707 to 1708."),
                              ("Mount Pelee", "It last erupted in 1932.")]],
                   doc_scores=torch.tensor([[2.0, 0.0]]))
    model.eval()
    with torch.no_grad():
        state = model.encoder(inp)
        assert [sorted(n.whole) for n in state.numbers] == [["1707", "1708"], ["1932"]]
        ys = torch.tensor([[agent.START_IDX] + tok.encode("It last erupted from 1707 to 1", add_special_tokens=False)])
        log_probs, _ = model.decoder(ys, state)
    open_tokens = (log_probs[0, -1] > float("-inf")).nonzero().view(-1).tolist()
    assert sorted(tok.decode([t]) for t in open_tokens) == ["7", "9"]
    model.numbers_from_passages = False
    with torch.no_grad():
        assert model.encoder(inp).numbers is None
    model.numbers_from_passages = True
    model.train()
    assert model.encoder(inp).numbers is None
    model.eval()


def test_context_contrast_decodes_against_a_row_without_passages(trained_causal, tiny_index):
    """--context-contrast adds, outside training and for RAG-Token only, one generator row
    per example without a passage and outside the mixture: the loss is the same, and each
    decoding step is the mixture sharpened against that row (`rag.contrast_with_unconditioned`)."""
    import torch.nn.functional as F

    from rag_dialogue import chat
    from rag_dialogue.model import RagInput
    from rag_dialogue.rag import contrast_with_unconditioned, rag_token_next_log_probs

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    model, tok = agent.model, agent.model.backend.tokenizer
    inp = RagInput(history=torch.tensor([tok.encode("When did it last erupt?", add_special_tokens=False)]),
                   passages=[[("Mount Fuji", "It last erupted from 1707 to 1708."),
                              ("Mount Pelee", "It last erupted in 1932.")]],
                   doc_scores=torch.tensor([[2.0, 0.0]]))
    ys = torch.tensor([[agent.START_IDX] + tok.encode("It last erupted", add_special_tokens=False)])
    model.eval()
    try:
        with torch.no_grad():
            plain_state = model.encoder(inp)
            model.context_contrast = 0.5
            state = model.encoder(inp)
            assert state.contrast == 0.5 and state.doc_scores.shape == (1, 3)
            assert state.doc_scores[0, 2] == float("-inf")
            # the loss's mixture is the passages' alone
            assert torch.allclose(model.target_log_probs(state, ys[:, 1:])[:, :2],
                                  model.target_log_probs(plain_state, ys[:, 1:]), atol=1e-4)
            contrasted, _ = model.decoder(ys, state)
            mixture, _ = model.decoder(ys, plain_state)
            blank = model.backend.encode(*model.backend.contexts([inp.history[0].tolist()], [[("", "")]],
                                                                 inp.history.device))
            without = F.log_softmax(model.backend.step(blank, ys, None)[0][:, -1:].float(), -1)
            expected = contrast_with_unconditioned(mixture[:, -1:], without, 0.5)
            assert torch.allclose(contrasted[:, -1:], expected, atol=1e-3)
            assert not torch.allclose(contrasted[:, -1:], mixture[:, -1:], atol=1e-3)
            model.train()
            assert model.encoder(inp).contrast == 0.0  # training never contrasts
    finally:
        model.context_contrast = 0.0
        model.eval()


def test_a_reply_without_the_number_asked_gives_its_passages_sentence(trained_causal, tiny_index):
    """The tiny model's reply to a question for a date does not state the year its
    passage gives, so the chat replies with the passage's sentence that does, shown once
    it is checked (never streamed, then taken back)."""
    import io

    from rag_dialogue import chat

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    out = io.StringIO()
    asked = "When was Alice's Adventures in Wonderland published?"  # its passage: "an 1865 English children's novel"
    (_, reply, *_), = chat.converse(agent, iter([asked]), out=out)
    assert "1865" in reply and any(reply in p.text for p in agent.model.last_retrieval[0].passages)
    assert "[taken back]" not in out.getvalue() and out.getvalue().count("[RagDialogue]") == 1
    # with --answer-asked-number off (and the passage fallback, which takes babble), the generator's reply stands
    agent.opt["answer_asked_number"] = agent.opt["chat_passage_fallback"] = False
    (_, reply, *_), = chat.converse(agent, iter(["[DONE]", asked]), out=io.StringIO())
    assert "1865" not in reply


def test_a_chat_reply_its_passages_do_not_support_gives_way_to_a_passage_sentence(trained_causal, tiny_index):
    """A made-up reply (here put in place of the tiny generator's) is replaced by a sentence
    of the retrieved passages; a supported one, or any with the option off, stands."""
    import io

    from rag_dialogue import chat

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    said = {"text": ""}

    def generator_says(batch, output):
        output["text"][0] = said["text"]
        return output

    agent._with_the_number_asked = generator_says
    asked = "Who wrote Alice's Adventures in Wonderland?"
    said["text"] = "It was written by the Danish poet Hans Ostergaard in 1932."
    (_, reply, *_), = chat.converse(agent, iter([asked]), out=io.StringIO())
    passages = agent.model.last_retrieval[0].passages
    assert reply != said["text"] and any(reply.split(": ")[-1] in p.text for p in passages)
    said["text"] = "It is an English children's novel by Lewis Carroll."  # the passage says so
    (_, reply, *_), = chat.converse(agent, iter(["[DONE]", asked]), out=io.StringIO())
    assert reply == said["text"]
    # a question for a number gets the sentence that gives it
    said["text"] = "It was published by the Danish poet Hans Ostergaard in London."
    (_, reply, *_), = chat.converse(agent, iter(["[DONE]", "When was Alice's Adventures in Wonderland published?"]),
                                    out=io.StringIO())
    assert "1865" in reply and any(reply in p.text for p in agent.model.last_retrieval[0].passages)
    agent.opt["chat_passage_fallback"] = False
    said["text"] = "It was written by the Danish poet Hans Ostergaard in 1932."
    (_, reply, *_), = chat.converse(agent, iter(["[DONE]", asked]), out=io.StringIO())
    assert reply == said["text"]


def test_a_stand_in_passes_the_check_that_took_the_reply_back(trained_causal, tiny_index):
    """A reply taken back as unsupported gave way to its first sentence where that was
    faithful by the measure's own threshold, though the chat's stricter one takes it back:
    "In physics, gravity is a fundamental interaction between matter and the vacuum of
    space." The stand-in must pass the check the reply failed; the passage's sentence does."""
    import io

    from rag_dialogue import chat, metrics

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    lead = "It is a novel written by Lewis Carroll for a young girl he knew."
    made_up = f"{lead} He wrote it on a boat trip with three young sisters."
    agent._with_the_number_asked = lambda batch, output: {**output, "text": [made_up]}
    (_, reply, *_), = chat.converse(agent, iter(["What is Alice's Adventures in Wonderland?"]), out=io.StringIO())
    passages = agent.model.last_retrieval[0].pairs()
    knowledge = "\n".join(f"{title}: {text}" for title, text in passages)
    assert metrics.response_category(lead, knowledge, ["What is Alice's Adventures in Wonderland?"]) == "faithful"
    assert reply != lead and any(reply.split(": ")[-1] in text for _, text in passages)


def test_a_question_its_passages_do_not_answer_is_answered_from_further_down(trained_causal, tiny_index,
                                                                            monkeypatch):
    """The dense search ranked five sentences of Penicillin, none naming anyone, above
    Alexander Fleming's "... for the discovery of penicillin": where the reply is taken back
    and no sentence of its own passages answers, a sentence ranked further down that does
    answers, and its passage joins those shown. An off-topic one does not, and with
    --chat-further-docs 0 the chat declines as before."""
    import io

    import torch

    from rag_dialogue import chat
    from rag_dialogue.abstain import decline_reply
    from rag_dialogue.model import Retrieval
    from rag_dialogue.retrieval.passages import Passage

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    own = [Passage("p0", "Penicillin", "Penicillins are a group of antibiotics obtained from Penicillium moulds."),
           Passage("p1", "Penicillin", "They are still widely used today against bacterial infections.")]
    boyle = Passage("p2", "Robert Boyle", "Robert Boyle was an Anglo-Irish natural philosopher and chemist.")
    fleming = Passage("p3", "Alexander Fleming", "Sir Alexander Fleming was a Scottish physician who received the "
                      "Nobel Prize for the discovery of penicillin.")
    ranked = {"passages": own + [boyle, fleming]}

    def retrieve(*args, k=None, **kwargs):
        found = ranked["passages"][:k or 2]
        return [Retrieval(found, [10.0 - i for i in range(len(found))])], torch.tensor([[10.0 - i for i in
                                                                                          range(len(found))]])

    monkeypatch.setattr(agent.model, "retrieve", retrieve)
    pasteur = "Penicillin was discovered by the French chemist Louis Pasteur in 1860."
    made_up, asked = pasteur, "Who discovered penicillin?"

    def ask():
        agent._with_the_number_asked = lambda batch, output: {**output, "text": [made_up]}
        (_, reply, *_), = chat.converse(agent, iter(["[DONE]", asked]), out=io.StringIO())
        return reply, [p.title for p in agent.model.last_retrieval[0].passages]

    assert ask() == (fleming.text, ["Penicillin", "Penicillin", "Alexander Fleming"])
    ranked["passages"] = own + [boyle]  # nothing further down answers
    assert ask() == (decline_reply([]), ["Penicillin", "Penicillin"])
    # a question for a number takes the sentence further down that gives that number of what it asks
    leg = Passage("p4", "Human leg", "There are thirty bones in each leg.")
    mass = Passage("p5", "Human skeleton", "The bone mass in the skeleton makes up about 14% of the body weight.")
    count = Passage("p6", "Human skeleton", "It is composed of around 270 bones at birth and 206 bones by adulthood.")
    ranked["passages"] = [leg, boyle, mass, count]
    made_up, asked = "There are 300 bones in the human body.", "How many bones are in the human body?"
    assert ask() == ("Human skeleton: " + count.text, ["Human leg", "Robert Boyle", "Human skeleton"])
    ranked["passages"] = own + [boyle, fleming]
    made_up, asked = pasteur, "Who discovered penicillin?"
    agent.opt["chat_further_docs"] = 0
    assert ask() == (decline_reply([]), ["Penicillin", "Penicillin"])


def test_an_answer_given_before_is_said_again_not_declined(trained_causal, tiny_index, monkeypatch):
    """"Who wrote it?", after the chat had said "Pride and Prejudice is a novel by English
    author Jane Austen.", was declined: that passage was passed over as said, and none of
    the others names the author. The earlier reply answers, and is said again."""
    import io

    import torch

    from rag_dialogue import chat
    from rag_dialogue.abstain import decline_reply
    from rag_dialogue.model import Retrieval
    from rag_dialogue.retrieval.passages import Passage

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    novel = Passage("p0", "Pride and Prejudice", "Pride and Prejudice is a novel by English author Jane Austen.")
    published = Passage("p1", "Pride and Prejudice", "It became the second novel to see print in 1813.")
    ranked = {"passages": [novel, published]}

    def retrieve(*args, k=None, **kwargs):
        found = ranked["passages"]
        return [Retrieval(found, [10.0 - i for i in range(len(found))])], torch.tensor([[10.0 - i for i in
                                                                                          range(len(found))]])

    monkeypatch.setattr(agent.model, "retrieve", retrieve)
    said = {"text": novel.text}
    agent._with_the_number_asked = lambda batch, output: {**output, "text": [said["text"]]}
    opening = "I just finished reading Pride and Prejudice."
    (_, reply, *_), = chat.converse(agent, iter([opening]), out=io.StringIO())
    assert reply == novel.text
    ranked["passages"] = [published]  # the sentence said is passed over
    said["text"] = "It was written by Charlotte Brontë."  # made up
    turns = list(chat.converse(agent, iter(["Who wrote it?"]), out=io.StringIO()))
    assert turns[-1][1] == novel.text
    # a question no reply answered is declined as before
    turns = list(chat.converse(agent, iter(["Who illustrated it?"]), out=io.StringIO()))
    assert turns[-1][1] == decline_reply([])
    # "When?" after "Who climbed it first?" asks when it was first climbed, which a reply told
    everest = Passage("p2", "Mount Everest", "Mount Everest is the highest mountain on Earth above sea level.")
    hillary = Passage("p3", "Edmund Hillary", "On 29 May 1953, Edmund Hillary and Tenzing Norgay became the first "
                      "climbers confirmed to have reached the summit of Mount Everest.")
    height = Passage("p4", "Mount Everest", "Its height was most recently measured in 2020 as 8,848.86 m.")
    said_by_turn = iter([everest.text, hillary.text, "It was first climbed in 1921."])
    agent._with_the_number_asked = lambda batch, output: {**output, "text": [next(said_by_turn)]}
    ranked["passages"] = [everest, hillary, height]
    turns = []
    for message, passages in (("Tell me about Mount Everest.", [everest, hillary, height]),
                              ("Who climbed it first?", [hillary, height]), ("When?", [height])):
        ranked["passages"] = passages
        turns += list(chat.converse(agent, iter(["[DONE]"] * (not turns) + [message]), out=io.StringIO()))
    assert [reply for _, reply, *_ in turns][-2:] == [hillary.text, hillary.text]


def test_a_bare_when_after_where_asks_when_that_was(trained_causal, tiny_index, monkeypatch):
    """"When?" after "Where did it start?" (ballet) got a sentence about costumes: it asks
    when ballet started, and the sentence that gives that year answers it."""
    import io

    import torch

    from rag_dialogue import chat
    from rag_dialogue.model import Retrieval
    from rag_dialogue.retrieval.passages import Passage

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    intro = Passage("b0", "Ballet", "Ballet is a type of performance dance.")
    spread = Passage("b1", "Ballet", "Ballet spread from the courts of Italy to the French court.")
    costumes = Passage("b2", "Ballet", "Classical ballets are performed with elaborate costumes and staging.")
    dated = Passage("b3", "Ballet", "The first ballet started at the French court in 1581.")
    ranked = {"passages": [intro]}

    def retrieve(*args, k=None, **kwargs):
        found = ranked["passages"]
        scores = [10.0 - i for i in range(len(found))]
        return [Retrieval(found, scores)], torch.tensor([scores])

    monkeypatch.setattr(agent.model, "retrieve", retrieve)
    said_by_turn = iter([intro.text, spread.text, costumes.text])
    agent._with_the_number_asked = lambda batch, output: {**output, "text": [next(said_by_turn)]}
    turns = []
    for message, passages in (("I'm going to see a ballet tonight.", [intro]),
                              ("Where did it start?", [spread]), ("When?", [costumes, dated])):
        ranked["passages"] = passages
        turns += list(chat.converse(agent, iter([message]), out=io.StringIO()))
    assert turns[-1][1] == dated.text


def test_a_number_said_before_is_not_declined_as_unknown(trained_causal, tiny_index, monkeypatch):
    """Asked again for a number a reply of the chat gave, whose passage is now passed over
    as said, the chat says it again, not that it does not know; where no sentence of its
    replies gives it as asked, that it knows no more."""
    from types import SimpleNamespace

    from rag_dialogue import chat
    from rag_dialogue.abstain import NOTHING_MORE, decline_reply

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    retrieval = SimpleNamespace(pairs=lambda: [("Alice's Adventures in Wonderland", "It is a children's novel.")])
    asked = [{"text": "When was Alice's Adventures in Wonderland published?"}]
    assert agent._declines(asked, [retrieval]) == [decline_reply([])]
    agent._replies = ["It is a novel by Lewis Carroll. It was published in 1865.", "It has twelve chapters."]
    assert agent._declines(asked, [retrieval]) == ["It was published in 1865."]
    # a year said of something else is no answer: the question is declined
    assert agent._declines([{"text": "When did he die?"}], [retrieval]) == [decline_reply([])]
    monkeypatch.setattr(agent, "_said_number", lambda message: None)
    assert agent._declines(asked, [retrieval]) == [NOTHING_MORE]


def test_a_reply_said_back_twice_gives_way_to_a_passage_sentence(trained_causal, tiny_index):
    """Where both tries say the message back, a passage sentence that shares its words
    answers ("I love cooking pasta on weekends." got "I'm sorry, I don't know more about
    that."); a decline said again stays a decline."""
    import io

    from rag_dialogue import chat
    from rag_dialogue.abstain import decline_reply

    agent, _ = chat.load_agent(trained_causal, tiny_index, log_file=trained_causal.parent / "chat.log")
    said = {"text": ""}

    def generator_says(batch, output):
        output["text"][0] = said["text"]
        return output

    agent._with_the_number_asked = agent._unless_unsupported = generator_says  # the second try's too
    loved = "I love reading Alice's Adventures in Wonderland."
    said["text"] = loved
    (_, reply, *_), = chat.converse(agent, iter([loved]), out=io.StringIO())
    assert reply != loved and any(reply.split(": ")[-1] in p.text for p in agent.model.last_retrieval[0].passages)
    said["text"] = decline_reply([])
    turns = list(chat.converse(agent, iter(["[DONE]", "Who was its first reader?", "And its second?"]),
                               out=io.StringIO()))
    assert [reply for _, reply, *_ in turns][-2:] == [decline_reply([])] * 2


def test_small_talk_is_answered_in_kind_without_retrieving(trained_causal, tiny_index):
    """"hi" got a lecture from Greeting's passage, "thanks" a made-up painter."""
    import io

    from rag_dialogue import chat, small_talk

    agent, _ = chat.load_agent(trained_causal, tiny_index, print_docs=True, log_file=trained_causal.parent / "chat.log")
    retrieve, calls = agent.model.retrieve, []

    def retrieve_and_count(*args, **kwargs):
        calls.append(args)
        return retrieve(*args, **kwargs)

    agent.model.retrieve = retrieve_and_count
    out = io.StringIO()
    turns = list(chat.converse(agent, iter(["hi", "Who wrote the opera The Glass Ferry?", "thanks"]), out=out))
    assert [reply for _, reply, *_ in turns] == [
        small_talk.REPLIES["greeting"], "I'm sorry, I don't know anything about The Glass Ferry.",
        small_talk.REPLIES["thanks"]]
    assert len(calls) == 1  # the question only
    assert out.getvalue().count("[retrieved passages]") == 1


def _train_twice(tmp_path, tiny_task, tiny_index, tiny_llama_dir, **seed):  # noqa: F811
    """Two 3-step trainings from different Python random states; their trained weights."""
    import random

    from parlai.scripts.train_model import TrainModel

    weights = []
    for run in (1, 2):
        random.seed(run)  # what a fresh process, or an earlier job in a worker, leaves behind
        model_file = tmp_path / f"run{run}" / "model"
        model_file.parent.mkdir(parents=True)
        TrainModel.main(
            model="rag_dialogue.agent:RagDialogueAgent", model_file=str(model_file),
            task="fromfile:parlaiformat", fromfile_datapath=str(tiny_task),
            generator=str(tiny_llama_dir), generator_train_layers=1, index_dir=str(tiny_index),
            n_docs=2, batchsize=2, max_train_steps=3, validation_max_exs=2, learningrate=1e-3,
            optimizer="adamw", skip_generation=True, datapath=str(model_file.parent),
            label_truncate=16, **seed,
        )
        weights.append(torch.load(model_file, map_location="cpu", weights_only=False)["model"])
    return weights


def test_a_seeded_training_repeats_itself_and_an_unseeded_one_does_not(
        tiny_task, tiny_index, tiny_llama_dir, tmp_path):  # noqa: F811
    first, second = _train_twice(tmp_path / "seeded", tiny_task, tiny_index, tiny_llama_dir, seed=0)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    # without a seed the teacher draws other turns: the comparison above can fail
    first, second = _train_twice(tmp_path / "unseeded", tiny_task, tiny_index, tiny_llama_dir)
    assert not all(torch.equal(first[k], second[k]) for k in first)
