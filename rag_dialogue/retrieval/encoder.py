"""Text encoder: any transformers AutoModel with CLS (DPR) or mean (SBERT) pooling."""

import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer

POOLINGS = ("cls", "mean")

# "name" or "org/name": what the hub accepts. Anything else is taken as a local path.
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def resolve_encoder(name_or_path: str | None) -> str:
    """The packaged MiniLM for None (or its portable name), an absolute path for local
    dirs, else a hub name.

    A string that looks like a path but does not exist raises FileNotFoundError, so
    transformers never sends a typo'd path to the hub.
    """
    from rag_dialogue.paths import PACKAGED_ENCODER, default_encoder_path

    if name_or_path is None or name_or_path == PACKAGED_ENCODER:
        return default_encoder_path()
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"encoder directory {path} has no config.json")
        return str(path.resolve())
    if not _HUB_ID.match(name_or_path) or name_or_path.startswith("."):
        raise FileNotFoundError(f"encoder directory not found: {name_or_path}")
    return name_or_path


def portable_encoder_name(name_or_path: str | None) -> str:
    """What an index records as its encoder: the packaged MiniLM by its portable name
    (its folder differs from one virtualenv to the next), anything else resolved."""
    from rag_dialogue.paths import PACKAGED_ENCODER, default_encoder_path

    resolved = resolve_encoder(name_or_path)
    return PACKAGED_ENCODER if resolved == default_encoder_path() else resolved


class TextEncoder(torch.nn.Module):
    """Encodes texts to one vector each; `forward` is differentiable, `encode` batches to numpy."""

    def __init__(self, name_or_path: str | None = None, pooling: str = "mean",
                 max_length: int = 256, load_weights: bool = True):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.name_or_path = resolve_encoder(name_or_path)
        self.name = portable_encoder_name(self.name_or_path)  # recorded by indexes
        self.pooling = pooling
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.name_or_path)
            # Without weights (config + tokenizer saved beside a trained model file)
            # the caller loads the trained weights itself.
            self.model = (AutoModel.from_pretrained(self.name_or_path) if load_weights
                          else AutoModel.from_config(AutoConfig.from_pretrained(self.name_or_path)))
        except OSError as e:  # hub name neither cached nor reachable
            raise FileNotFoundError(f"cannot load encoder {self.name_or_path!r}: {e}") from None
        config = self.model.config
        # DPR checkpoints may project the CLS vector (projection_dim); others use hidden_size.
        self.dim = int(getattr(config, "projection_dim", 0) or config.hidden_size)
        # Never exceed the position table (tiny test models have 128 positions).
        limits = [max_length, getattr(config, "max_position_embeddings", None),
                  self.tokenizer.model_max_length]
        self.max_length = min(x for x in limits if isinstance(x, int) and x > 0)

    def tokenize(self, texts: list[str], truncate_left: bool = False) -> dict[str, torch.Tensor]:
        """Padded `input_ids`, `attention_mask` [B, L]; `truncate_left` keeps a long text's end."""
        side = self.tokenizer.truncation_side
        self.tokenizer.truncation_side = "left" if truncate_left else "right"
        try:
            batch = self.tokenizer(list(texts), padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt")
        finally:
            self.tokenizer.truncation_side = side
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B, L] token ids and mask -> [B, D] pooled embeddings."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        hidden = getattr(out, "last_hidden_state", None)
        if hidden is None:  # DPR encoders return only their (CLS) pooler_output
            if self.pooling != "cls":
                raise ValueError(f"encoder {self.name_or_path} gives no token states for "
                                 "mean pooling; use pooling 'cls'")
            return out.pooler_output
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    @torch.inference_mode()
    def encode(self, texts, batch_size: int = 64, show_progress: bool = False,
               truncate_left: bool = False) -> np.ndarray:
        """Encode `texts` to float32 [N, D] in eval mode (no dropout), in input order.

        Texts are batched longest first so each batch pads to similar lengths.
        """
        texts = list(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        device = next(self.model.parameters()).device
        was_training = self.training
        self.eval()
        bar = tqdm(total=len(texts), desc="encoding", unit="text", disable=not show_progress)
        try:
            for start in range(0, len(texts), batch_size):
                rows = order[start:start + batch_size]
                batch = self.tokenize([texts[i] for i in rows], truncate_left=truncate_left)
                emb = self(**{k: v.to(device) for k, v in batch.items()})
                out[rows] = emb.float().cpu().numpy()
                bar.update(len(rows))
        finally:
            bar.close()
            self.train(was_training)
        return out
