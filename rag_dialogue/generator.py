"""Generators: load any transformers seq2seq model or causal LM; warm-start a BART from BERT (Rothe et al. 2020)."""

import json
import logging
import os
import re
from pathlib import Path
from typing import Optional

from rag_dialogue.paths import default_encoder_path, home
from rag_dialogue.utils import atomic_path

logger = logging.getLogger(__name__)

# Written last into a warm-started directory: its presence means the build finished.
WARM_START_MARKER = "warm_start.json"

# owner/name or a bare name, as the Hugging Face hub spells repository ids
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def _looks_local(name: str) -> bool:
    """True for what can only mean a path; hub ids like `facebook/bart-base` are not."""
    if name.startswith(("./", "../", "~", ".\\", "..\\")) or name in (".", ".."):
        return True
    if os.path.isabs(name) or name.count("/") > 1:
        return True
    if os.sep != "/" and os.sep in name:
        return True
    return not _HUB_ID.fullmatch(name) or ".." in name or "--" in name


# Files that carry a vocabulary; without one AutoTokenizer silently returns an empty tokenizer.
_VOCAB_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                "tokenizer.model", "source.spm")


def _load_tokenizer(path: Path, **kwargs):
    from transformers import AutoTokenizer

    if not any((path / f).is_file() for f in _VOCAB_FILES):
        raise ValueError(
            f"{path} has no tokenizer vocabulary (found: {_listing(path)}); save the tokenizer with the model"
        )
    try:
        return AutoTokenizer.from_pretrained(path, **kwargs)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"cannot load the tokenizer in {path}: {e}") from e


def _listing(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir())
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") if names else "nothing"


def _auto_class(config, path):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    if config.model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        return AutoModelForSeq2SeqLM
    # BERT-family encoders also have a causal-LM head class; only a checkpoint saved as
    # a language model (architectures `...ForCausalLM` / `...LMHeadModel`) is a generator
    causal_architecture = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in config.architectures or ())
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and causal_architecture:
        return AutoModelForCausalLM
    raise ValueError(
        f"{path} holds a {config.model_type!r} model ({', '.join(config.architectures or [])}), "
        "not a generator; give a seq2seq (BART, T5) or causal-LM (Llama, GPT-2) model directory"
    )


def generator_from_config(path):
    """An untrained generator of the kind and shape `path/config.json` describes (weights come later)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    return _auto_class(config, path).from_config(config)


def load_generator(name_or_path: str):
    """Load a generator and its tokenizer by hub name, local directory or GGUF file.

    Seq2seq models (BART, T5, ...) and causal LMs (Llama, GPT-2, the packaged
    SmolLM2 as `packaged:SmolLM2-135M-Instruct`) both work. A path that does not exist
    is a FileNotFoundError (never a hub lookup); a directory without a generator
    config or tokenizer is a ValueError saying what is there instead.
    Returns (model, tokenizer), the model in eval mode.
    """
    from transformers import AutoConfig, AutoTokenizer

    from rag_dialogue.causal_lm import generator_folder

    name_or_path = generator_folder(str(name_or_path))
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"generator {name_or_path!r} is a file; give the model directory or a .gguf file")
        if not (path / "config.json").is_file():
            raise ValueError(
                f"{path} is not a transformers model directory: no config.json (found: {_listing(path)})"
            )
        config = AutoConfig.from_pretrained(path)
        auto = _auto_class(config, path)
        tokenizer = _load_tokenizer(path)
        model = auto.from_pretrained(path)
        n_embeddings = model.get_input_embeddings().num_embeddings
        if len(tokenizer) > n_embeddings:  # ids past the embedding table would crash mid-training
            raise ValueError(
                f"the tokenizer in {path} has {len(tokenizer)} tokens but the model embeds only {n_embeddings}"
            )
        return model.eval(), tokenizer
    if _looks_local(name_or_path):
        raise FileNotFoundError(f"generator directory {name_or_path!r} does not exist")
    try:  # a hub id: only works online or with the hub cache filled
        config = AutoConfig.from_pretrained(name_or_path)
        model = _auto_class(config, name_or_path).from_pretrained(name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except OSError as e:
        raise ValueError(
            f"cannot load generator {name_or_path!r}: not a local directory, and the hub failed ({e})"
        ) from e
    return model.eval(), tokenizer


def generator_special_ids(model, tokenizer) -> dict:
    """The ids a decoder loop needs: {"pad", "start" (decoder start), "end" (eos)}.

    `model` is a generator or anything with its `config` (and `generation_config`).
    For a causal LM the start token is virtual (the prompt's last position predicts
    the first response token) and pad always differs from end.

    Read from the generation config first (where transformers 5 keeps them), then the
    model config, then the tokenizer. The start falls back like `generate()` does:
    bos, then pad (T5's convention: its decoder starts with the pad token).
    """
    gen = getattr(model, "generation_config", None)
    config = model.config

    def first(*values):
        for v in values:
            if isinstance(v, (list, tuple)):  # several eos ids allowed; the first is the canonical one
                v = v[0] if v else None
            if v is not None:
                return int(v)
        return None

    pad = first(
        getattr(gen, "pad_token_id", None), getattr(config, "pad_token_id", None), tokenizer.pad_token_id
    )
    end = first(
        getattr(gen, "eos_token_id", None), getattr(config, "eos_token_id", None),
        tokenizer.eos_token_id, tokenizer.sep_token_id,
    )
    start = first(
        getattr(gen, "decoder_start_token_id", None), getattr(config, "decoder_start_token_id", None),
        getattr(gen, "bos_token_id", None), getattr(config, "bos_token_id", None), pad,
    )
    if not config.is_encoder_decoder and (pad is None or pad == end):
        # A causal LM's pad is often its end token (SmolLM2: <|im_end|>). ParlAI masks
        # padding by id, which would also mask the end of every response and the model
        # would never learn to stop: pad with another special token it never predicts.
        others = [t for t in (tokenizer.unk_token_id, tokenizer.bos_token_id, *tokenizer.all_special_ids)
                  if t is not None and t != end]
        pad = others[0] if others else None
    missing = [k for k, v in (("pad", pad), ("start", start), ("end", end)) if v is None]
    if missing:
        raise ValueError(f"generator defines no {'/'.join(missing)} token id (config or tokenizer)")
    return {"pad": pad, "start": start, "end": end}


def _bart_config_from_bert(bert_config, max_positions: int, tok):
    from transformers import BartConfig

    return BartConfig(
        vocab_size=bert_config.vocab_size,
        max_position_embeddings=max_positions,
        d_model=bert_config.hidden_size,
        encoder_layers=bert_config.num_hidden_layers,
        decoder_layers=bert_config.num_hidden_layers,
        encoder_attention_heads=bert_config.num_attention_heads,
        decoder_attention_heads=bert_config.num_attention_heads,
        encoder_ffn_dim=bert_config.intermediate_size,
        decoder_ffn_dim=bert_config.intermediate_size,
        activation_function=bert_config.hidden_act,
        dropout=bert_config.hidden_dropout_prob,
        attention_dropout=bert_config.attention_probs_dropout_prob,
        activation_dropout=0.0,  # BERT has no dropout inside its feed-forward block
        scale_embedding=False,  # BERT adds unscaled word and position embeddings
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.cls_token_id,
        forced_eos_token_id=None,  # BartConfig defaults to forcing id 2, which is [unused1] here
        tie_word_embeddings=True,
    )


# BART layer module -> BERT layer module (both post-norm, so the norms line up one to one)
_BART_FROM_BERT_LAYER = {
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "self_attn_layer_norm": "attention.output.LayerNorm",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
    "final_layer_norm": "output.LayerNorm",
}


def bart_state_from_bert(bert_state: dict, num_layers: int, max_positions: int) -> dict:
    """Map a BertModel state dict onto BartForConditionalGeneration's keys (DESIGN.md).

    Encoder layer i = BERT layer i. Decoder layer i takes the same self-attention and
    feed-forward weights; its cross-attention starts as a copy of the self-attention,
    so decoder states attend to matching encoder content from the first step.
    """
    import torch

    word = bert_state["embeddings.word_embeddings.weight"]
    positions = bert_state["embeddings.position_embeddings.weight"][:max_positions]
    token_type = bert_state.get("embeddings.token_type_embeddings.weight")
    type0 = token_type[0] if token_type is not None else torch.zeros_like(positions[0])
    # BART adds no token-type embedding, so type 0 (what BERT sees by default) lives in
    # the positions. BART indexes its table at position + 2; the two rows below are
    # never read, so they get a neutral value (mean position) instead of noise.
    offset_rows = (positions.mean(0) + type0).expand(2, -1)
    bart_positions = torch.cat([offset_rows, positions + type0])

    state = {"final_logits_bias": torch.zeros(1, word.shape[0])}
    for name in ("model.shared", "model.encoder.embed_tokens", "model.decoder.embed_tokens", "lm_head"):
        state[f"{name}.weight"] = word  # tied: one tensor, four names
    for side in ("encoder", "decoder"):
        state[f"model.{side}.embed_positions.weight"] = bart_positions
        for p in ("weight", "bias"):
            state[f"model.{side}.layernorm_embedding.{p}"] = bert_state[f"embeddings.LayerNorm.{p}"]

    for i in range(num_layers):
        layer = {
            f"{bart_name}.{p}": bert_state[f"encoder.layer.{i}.{bert_name}.{p}"]
            for bart_name, bert_name in _BART_FROM_BERT_LAYER.items()
            for p in ("weight", "bias")
        }
        cross = {
            k.replace("self_attn", "encoder_attn"): v for k, v in layer.items() if k.startswith("self_attn")
        }
        state.update({f"model.encoder.layers.{i}.{k}": v for k, v in layer.items()})
        state.update({f"model.decoder.layers.{i}.{k}": v for k, v in {**layer, **cross}.items()})
    return state


def warm_start_bart_from_bert(bert_path, out_dir, max_positions: int = 512) -> Path:
    """Write a BartForConditionalGeneration warm-started from a BERT checkpoint.

    The BART follows the BERT: same width, heads, feed-forward size and activation,
    post-norm, BERT's number of layers on both sides, BERT's vocabulary and tokenizer
    ([PAD] pads, [CLS] starts the decoder, [SEP] ends). Every weight comes from BERT
    (see `bart_state_from_bert`); nothing is left random. `out_dir` is an ordinary
    transformers model directory (safetensors + tokenizer), written atomically.

    One difference BART's code imposes: its LayerNorms use eps 1e-5 (BERT: 1e-12),
    negligible next to the variance of real activations.
    """
    import torch
    from transformers import AutoConfig, BartForConditionalGeneration, BertModel

    bert_path, out_dir = Path(bert_path).expanduser(), Path(out_dir).expanduser()
    if not bert_path.is_dir():
        raise FileNotFoundError(f"BERT checkpoint directory {str(bert_path)!r} does not exist")
    if not (bert_path / "config.json").is_file():
        raise ValueError(
            f"{bert_path} has no config.json (found: {_listing(bert_path)}); give a BERT model directory"
        )
    bert_config = AutoConfig.from_pretrained(bert_path)
    if bert_config.model_type != "bert":
        raise ValueError(
            f"{bert_path} holds a {bert_config.model_type!r} model; warm-starting needs a BERT "
            "(model_type 'bert')"
        )
    if getattr(bert_config, "position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"{bert_path} uses {bert_config.position_embedding_type!r} positions; BART needs absolute ones"
        )
    if not 0 < max_positions <= bert_config.max_position_embeddings:
        raise ValueError(
            f"max_positions must be in 1..{bert_config.max_position_embeddings} (the positions BERT has), "
            f"got {max_positions}"
        )
    if out_dir.exists() and not _replaceable(out_dir):
        raise ValueError(
            f"refusing to replace {out_dir}: it exists and is not a model directory "
            f"(found: {_listing(out_dir)})"
        )
    # BART takes no token types (type 0 is folded into the positions), so the saved
    # tokenizer must not produce them: generate() rejects unknown inputs.
    tokenizer = _load_tokenizer(bert_path, model_input_names=["input_ids", "attention_mask"])
    if None in (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id):
        raise ValueError(f"the tokenizer in {bert_path} lacks [PAD], [CLS] or [SEP]")

    bert = BertModel.from_pretrained(bert_path)
    config = _bart_config_from_bert(bert_config, max_positions, tokenizer)
    model = BartForConditionalGeneration(config)
    state = bart_state_from_bert(bert.state_dict(), bert_config.num_hidden_layers, max_positions)
    with torch.no_grad():
        model.load_state_dict(state, strict=True)  # strict: no BART weight stays random
    model.tie_weights()

    n_params = count_parameters(model)
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / WARM_START_MARKER).write_text(json.dumps({
            "warm_started_from": str(bert_path.resolve()),
            "method": "BERT -> BART (Rothe et al. 2020): encoder = BERT layers; decoder = BERT "
                      "self-attention + feed-forward, cross-attention copied from self-attention",
            "max_positions": max_positions,
            "parameters": n_params,
        }, indent=2) + "\n")
    return out_dir


def _replaceable(path: Path) -> bool:
    # Only ever replace an empty dir or a model dir, never something a user pointed at by mistake.
    return path.is_dir() and (not any(path.iterdir()) or (path / "config.json").is_file())


def count_parameters(model) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def is_warm_started_dir(path) -> bool:
    path = Path(path)
    return (path / WARM_START_MARKER).is_file() and (path / "config.json").is_file()


def _default_generator_path() -> Path:
    return home() / "generators" / "minilm-bart"


def default_generator_dir() -> Path:
    """The offline default generator: a BART warm-started from the packaged MiniLM, built on first use."""
    out = _default_generator_path()
    if not is_warm_started_dir(out):
        logger.info("building the default generator (BART warm-started from MiniLM) in %s", out)
        warm_start_bart_from_bert(default_encoder_path(), out)
    return out


def add_subparser(subparsers):
    parser = subparsers.add_parser("generator", help="build or inspect seq2seq generators")
    commands = parser.add_subparsers(dest="generator_command", metavar="ACTION")
    commands.required = True
    init = commands.add_parser(
        "init", help="write a BART warm-started from a BERT checkpoint (default: the packaged MiniLM)"
    )
    init.add_argument("--from", dest="bert_path", default=None, metavar="BERT_PATH",
                      help="BERT model directory to start from (default: the packaged all-MiniLM-L6-v2)")
    init.add_argument("--out", default=None, metavar="DIR",
                      help="where to write it (default: $RAG_DIALOGUE_HOME/generators/minilm-bart)")
    init.add_argument("--max-positions", type=int, default=512, metavar="N",
                      help="longest input/output in tokens (at most BERT's position count)")
    init.add_argument("--force", action="store_true", help="rebuild even if DIR already holds a generator")
    init.set_defaults(func=_cmd_init)


def _cmd_init(args):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    bert_path = args.bert_path or default_encoder_path()
    out = Path(args.out).expanduser() if args.out else _default_generator_path()
    if is_warm_started_dir(out) and not args.force:
        n = json.loads((out / WARM_START_MARKER).read_text()).get("parameters", 0)
        print(f"generator already at {out} ({n:,} parameters); --force rebuilds it")
        return 0
    if out.exists() and not args.force and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not a warm-started generator; choose another --out or --force")
    logger.info("warm-starting BART from %s ...", bert_path)
    warm_start_bart_from_bert(bert_path, out, max_positions=args.max_positions)
    info = json.loads((out / WARM_START_MARKER).read_text())
    print(f"wrote {out} ({info['parameters']:,} parameters, warm-started from {bert_path})")
    return 0


def hf_dir_of_model(model_file: Optional[str], kind: str) -> Optional[Path]:
    """Config + tokenizer saved beside a trained model file (weights are in the model file)."""
    if not model_file:
        return None
    path = Path(f"{model_file}.hf") / kind
    return path if (path / "config.json").exists() else None


def resolve_hf_dir(opt, kind: str) -> str:
    """Where to read the generator's / query encoder's config and tokenizer from."""
    saved = hf_dir_of_model(opt.get("model_file"), kind) or hf_dir_of_model(
        opt.get("init_model"), kind
    )
    if saved is not None:
        return str(saved)
    if kind == "generator":
        if opt.get("generator"):
            from rag_dialogue.causal_lm import generator_folder

            return generator_folder(opt["generator"])
        return str(default_generator_dir())
    return opt.get("query_encoder")
