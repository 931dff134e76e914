"""The ParlAI agent: `-m rag_dialogue.agent:RagDialogueAgent`.

Thin glue between ParlAI's `TorchGeneratorAgent` (training loop, tree search,
metrics) and `RagModel`: it builds the model from its options, turns observations
into a `RagInput`, records the loss its generation type computes, and adds the
retrieval metrics (recall@K); the teacher scores grounding and hallucination
(rag_dialogue.metrics). What a generation type decides is in rag_dialogue.strategies.
"""

import contextlib
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

import torch
from parlai.core.message import Message
from parlai.core.metrics import AverageMetric
from parlai.core.torch_generator_agent import PPLMetric, TorchGeneratorAgent

import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
from rag_dialogue import progress
from rag_dialogue.args import CHAT_FURTHER_DOCS, add_rag_args
from rag_dialogue.backends import use_bf16
from rag_dialogue.dictionary import GeneratorDictionary
from rag_dialogue.display import format_docs, render_attribution
from rag_dialogue.generator import resolve_hf_dir
from rag_dialogue.grounded_names import spare_names_from_ngram_blocking
from rag_dialogue.grounded_numbers import NUMBER_BEAMS, spare_numbers_from_ngram_blocking
from rag_dialogue.metrics import gold_passage
from rag_dialogue.model import RagInput, RagModel, Retrieval
from rag_dialogue.rag import per_passage_target_log_probs, rag_token_next_log_probs
from rag_dialogue.strategies import strategy_for
from rag_dialogue.utils import atomic_path


logger = logging.getLogger(__name__)


def average_gradients(model: torch.nn.Module):
    """All-reduce the mean gradient of every trained parameter across the workers.

    A parameter without a gradient on this worker counts as zeros, so every worker makes
    the same collective call. One flat buffer: one all-reduce per step.
    """
    import torch.distributed as dist

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                      for p in params])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def _has_weights(path: str) -> bool:
    return os.path.isdir(path) and any(
        name.endswith((".safetensors", ".bin")) for name in os.listdir(path)
    )


class RagDialogueAgent(TorchGeneratorAgent):
    """Retrieval-augmented generation for knowledge-grounded dialogue (RAG-Token by default)."""

    @classmethod
    def add_cmdline_args(cls, parser, partial_opt=None):
        super().add_cmdline_args(parser, partial_opt=partial_opt)
        add_rag_args(parser)
        if "parlai.scripts.multiprocessing_train" in sys.modules:  # `parlai multiprocessing_train`
            from rag_dialogue.compat import patch_distributed_training

            patch_distributed_training()
        # Validation by perplexity works without generation (ParlAI's default,
        # accuracy, needs it); short inputs suit the sentence-level knowledge.
        parser.set_defaults(
            text_truncate=256, label_truncate=64, truncate=256,
            validation_metric="ppl", validation_metric_mode="min",
        )
        return parser

    @classmethod
    def optim_opts(cls):
        opts = super().optim_opts()
        # torch's fused Adam/AdamW update every parameter in one kernel; the default per-tensor
        # loops took a tenth of a training step on a CPU, the fused one 1-4% (bench/bench_stages.py)
        for name in ("adam", "adamw"):
            if name in opts:
                opts[name] = functools.partial(opts[name], fused=True)
        return opts

    @staticmethod
    def dictionary_class():
        return GeneratorDictionary

    def __init__(self, opt, shared=None):
        self.strategy = strategy_for(opt["rag_type"])  # the one place the type is chosen
        super().__init__(opt, shared)
        # In distributed training ParlAI wraps the model in DistributedDataParallel, which
        # synchronises only the gradients of passes through its forward; the RAG losses
        # call the model's methods (encoder, target_log_probs) instead. So the agent keeps
        # the bare model and averages the gradients across workers before each step.
        self._average_gradients = False
        if isinstance(self.model, torch.nn.parallel.DistributedDataParallel):
            self.model = self.model.module
            self._average_gradients = True
        # chat: `on_text(reply so far)` at every generation step (rag_dialogue.chat streams
        # with it); the conversation's replies and the passages each came from
        self.on_text = None
        self._hold_stream = False  # set while a reply awaits its number check (see eval_step)
        self.pending_lines: List[str] = []  # passages and attributions of a streamed reply
        self._space_led_mask = None  # tokens that start a new word (--max-reply-sentences), on first use
        self._line_break_masks = None  # line-break tokens, which end a reply, on first use
        self._replies: List[str] = []
        self._used_passages: List[str] = []
        self._answered: List[tuple] = []  # (its first source's title, reply) for each reply of a chat
        self._saying_again: Optional[str] = None  # an earlier reply said again on purpose (_answered_before)
        # after the weights are loaded (ParlAI loads them after build_model); copies share the model
        self.int8_layers = 0
        if opt.get("int8_inference") and shared is None and self._generates_only():
            self.int8_layers = self.model.quantize_int8()

    def _generates_only(self) -> bool:
        """Loaded to evaluate or chat: never trained or saved by this process."""
        from parlai.utils.data import DatatypeHelper

        return bool(self.opt.get("interactive_mode")) or not DatatypeHelper.is_training(self.opt.get("datatype", "train"))

    def reset(self):
        super().reset()
        self._replies, self._used_passages, self._answered = [], [], []

    def observe(self, observation):
        # in a chat, a question typed without its "?" is read as one (abstain.as_typed_question)
        if self.opt.get("interactive_mode") and observation is not None and observation.get("text"):
            from rag_dialogue.abstain import as_typed_question

            text = as_typed_question(observation["text"])
            if text != observation["text"]:
                observation = Message(observation)
                observation.force_set("text", text)
        return super().observe(observation)

    def backward(self, loss, **kwargs):
        if not self._average_gradients:
            return super().backward(loss, **kwargs)
        # ParlAI's accumulation path needs DDP's no_sync(); gradients are only averaged
        # at the step here anyway (fp16 is GPU-only and unused by this agent)
        update_freq = self.opt.get("update_freq", 1)
        if update_freq > 1:
            loss = loss / update_freq
            self._number_grad_accum = (self._number_grad_accum + 1) % update_freq
        loss.backward(**kwargs)

    def update_params(self):
        if self._average_gradients and self._number_grad_accum == 0:
            average_gradients(self.model)
        super().update_params()

    # ------------------------------------------------------------------ building
    def build_model(self):
        from rag_dialogue.backends import freeze_all_but_top_layers
        from rag_dialogue.causal_lm import BASE_MARKER, resolve_base
        from rag_dialogue.generator import generator_from_config, load_generator

        opt = self.opt
        gen_dir = resolve_hf_dir(opt, "generator")
        base_file = Path(gen_dir) / BASE_MARKER
        recorded = json.loads(base_file.read_text()) if base_file.is_file() else {}
        self.generator_base = None  # {"name", "sha256"} of base weights the model file leaves out
        if _has_weights(gen_dir) or not os.path.isdir(gen_dir):
            generator, _ = load_generator(gen_dir)
        elif "sha256" in recorded:
            # saved beside a model file that carries only the trained weights: the rest
            # comes from the recorded base, found again and checked by its checksum
            self.generator_base = recorded
            generator, _ = load_generator(str(resolve_base(recorded)))
        else:  # saved beside a model file: weights come from the model file
            generator = generator_from_config(gen_dir)
        if self.generator_base is None and opt.get("generator_train_layers", -1) >= 0 and os.path.isdir(gen_dir):
            from rag_dialogue.causal_lm import base_record

            self.generator_base = base_record(gen_dir)
        trainable = freeze_all_but_top_layers(generator, opt.get("generator_train_layers", -1))
        logging.info(f"generator {type(generator).__name__}: {trainable:,} of "
                     f"{sum(p.numel() for p in generator.parameters()):,} parameters trained")
        query_encoder = retriever = None
        if self.strategy.retrieves:
            query_encoder, retriever = self._build_retrieval()
        # context = passage (<= --passage-truncate) + history (<= --text-truncate, the
        # newest tokens), within the generator's positions
        max_positions = getattr(generator.config, "max_position_embeddings", None) or 10**9
        history = opt.get("text_truncate") or opt.get("truncate") or 512
        history = history if history > 0 else 512
        return RagModel(
            generator,
            self.dict.hf_tokenizer,
            {"pad": self.NULL_IDX, "start": self.START_IDX, "end": self.END_IDX},
            rag_type=opt["rag_type"],
            n_docs=opt["n_docs"],
            max_context_len=min(opt["passage_truncate"] + 4 + history, max_positions - 64),
            passage_truncate=opt["passage_truncate"],
            query_encoder=query_encoder,
            retriever=retriever,
            autocast_bf16=use_bf16(opt.get("bf16_autocast", False)),
            bf16_inference=use_bf16(opt.get("bf16_inference", False)),
            numbers_from_passages=bool(opt.get("numbers_from_passages", True)),
            names_from_passages=bool(opt.get("names_from_passages", True)),
            topic_bonus=bool(opt.get("retrieval_topic", True)),
            context_contrast=float(opt.get("context_contrast") or 0.0),
            include_gold=bool(opt.get("retrieval_include_gold", False)),
        )

    def _build_retrieval(self):
        from rag_dialogue.retrieval.index import DenseIndex
        from rag_dialogue.retrieval.retriever import Retriever, query_encoder_for

        opt = self.opt
        if not opt.get("index_dir"):
            raise ValueError(
                f"--rag-type {opt['rag_type']} retrieves passages: give --index-dir "
                "(build one with `rag-dialogue index build`), or use --rag-type none/gold"
            )
        meta = DenseIndex.read_meta(opt["index_dir"])
        encoder_dir = resolve_hf_dir(opt, "query_encoder") or meta["encoder"]
        query_encoder = query_encoder_for(
            opt, meta, encoder_dir, load_weights=_has_weights(encoder_dir) or not os.path.isdir(encoder_dir))
        knobs = {"nprobe": opt.get("index_nprobe"), "ef_search": opt.get("index_ef_search"),
                 "k_factor": opt.get("index_k_factor")}
        if opt.get("retriever_actors"):
            from rag_dialogue.retrieval.remote import RayRetriever

            return query_encoder, RayRetriever(opt["index_dir"], query_encoder,
                                               n_actors=opt["retriever_actors"], knobs=knobs,
                                               address=opt.get("ray_address"))
        return query_encoder, Retriever(opt["index_dir"], query_encoder, knobs=knobs)

    def init_optim(self, params, optim_states=None, saved_optim_type=None, is_finetune=False):
        # The query encoder learns at --query-encoder-lr-scale x the generator's rate: at
        # the generator's rate the RAG likelihood of a freshly grounded generator shrinks
        # the query vectors within a few dozen steps (flat passage prior, lost recall).
        scale = self.opt.get("query_encoder_lr_scale", 1.0)
        encoder = self.model.query_encoder
        if encoder is not None and scale != 1.0:
            in_encoder = {id(p) for p in encoder.parameters()}
            params = list(params)
            params = [
                {"params": [p for p in params if id(p) not in in_encoder]},
                {"params": [p for p in params if id(p) in in_encoder],
                 "lr": self.opt["learningrate"] * scale},
            ]
        return super().init_optim(params, optim_states, saved_optim_type, is_finetune)

    def _left_out_of_saves(self) -> set:
        """State keys of frozen base weights, which a model file recording its base leaves out."""
        if not getattr(self, "generator_base", None):
            return set()
        frozen = {p.data_ptr() for p in self.model.generator.parameters() if not p.requires_grad}
        return {f"generator.{k}" for k, v in self.model.generator.state_dict().items()
                if v.data_ptr() in frozen}

    def state_dict(self):
        states = super().state_dict()
        left_out = self._left_out_of_saves()
        if left_out and "model" in states:
            states["model"] = {k: v for k, v in states["model"].items() if k not in left_out}
        return states

    def load_state_dict(self, state_dict):
        # The query encoder comes and goes with retrieval: a retrieval model evaluated
        # without it (--rag-type gold/none) ignores its weights, and a retrieval model
        # initialised from a gold-knowledge one (--init-model) keeps its fresh encoder.
        # Frozen base weights a model file leaves out are already loaded from the base.
        own = self.model.state_dict()
        state_dict = {k: v for k, v in state_dict.items()
                      if not k.startswith("query_encoder.") or k in own}
        left_out = self._left_out_of_saves()
        for k, v in own.items():
            if k not in state_dict and (k.startswith("query_encoder.") or k in left_out):
                state_dict[k] = v
        super().load_state_dict(state_dict)

    def save(self, path=None):
        if getattr(self, "int8_layers", 0):
            raise RuntimeError("this agent generates with int8 weights (--int8-inference) and cannot "
                               "save them: load the model file again without it to train or save")
        super().save(path)
        path = self.opt.get("model_file", None) if path is None else path
        if not path or not hasattr(self, "model"):
            return
        # Config and tokenizer beside the model file make it self-contained (the
        # weights are in the model file, or the base it records); they are read back
        # by resolve_hf_dir.
        from rag_dialogue.causal_lm import BASE_MARKER

        with atomic_path(f"{path}.hf") as tmp:
            self.model.generator.config.save_pretrained(tmp / "generator")
            if getattr(self.model.generator, "generation_config", None) is not None:
                self.model.generator.generation_config.save_pretrained(tmp / "generator")
            self.dict.hf_tokenizer.save_pretrained(tmp / "generator")
            if self.generator_base:
                (tmp / "generator" / BASE_MARKER).write_text(json.dumps(self.generator_base, indent=2) + "\n")
            if self.model.query_encoder is not None:
                encoder = self.model.query_encoder
                encoder.model.config.save_pretrained(tmp / "query_encoder")
                encoder.tokenizer.save_pretrained(tmp / "query_encoder")

    # ------------------------------------------------------------------ batching
    def batchify(self, obs_batch, sort=False):
        batch = super().batchify(obs_batch, sort=sort)
        if batch.text_vec is None:
            return batch
        valid = [obs_batch[i] for i in batch.valid_indices]
        rag_input = RagInput(history=batch.text_vec)
        if self.strategy.retrieves:
            from rag_dialogue.retrieval.query import retrieval_query

            delimiter = self.opt.get("delimiter", "\n")
            queries = [
                retrieval_query(self._turns(obs),
                                self.opt["retrieval_turns"], self.opt.get("retrieval_keep_first_turn", False))
                for obs in valid
            ]
            tokens = self.model.query_encoder.tokenize(queries, truncate_left=True)
            rag_input.query = {k: v.to(batch.text_vec.device) for k, v in tokens.items()}
            weight = self.opt.get("retrieval_message_weight")
            weight = (0.5 if self.opt.get("interactive_mode") else 0.0) if weight is None else weight
            dialogues = [self._turns(obs) or [""] for obs in valid]
            if weight > 0 and any(len(turns) > 1 for turns in dialogues):
                from rag_dialogue.abstain import refers_back

                # a message that speaks of the dialogue's subject without naming it keeps its query
                last = [query if refers_back(turns[-1]) else turns[-1] for query, turns in zip(queries, dialogues)]
                tokens = self.model.query_encoder.tokenize(last, truncate_left=True)
                rag_input.message_query = {k: v.to(batch.text_vec.device) for k, v in tokens.items()}
                rag_input.message_weight = weight
            if self.opt.get("retrieval_names", True):
                from rag_dialogue.abstain import conversation_names

                rag_input.names = [conversation_names(obs.get("text", ""), self._turns(obs)) for obs in valid]
            if self.opt.get("answer_asked_number", True):
                from rag_dialogue.grounded_numbers import asked_number

                rag_input.asks_number = [asked_number(obs.get("text", "")) for obs in valid]
                rag_input.questions = [obs.get("text", "").split(delimiter)[-1] for obs in valid]
            if self.opt.get("retrieval_skip_said", True):
                rag_input.said = [obs.get("full_text", obs.get("text", "")) for obs in valid]
                if self.opt.get("interactive_mode") and self._used_passages:
                    # passages a reply of this chat was made from count as said
                    rag_input.said = [s + "\n" + "\n".join(self._used_passages) for s in rag_input.said]
        rag_input.gold = [gold_passage(obs) or ("", "") for obs in valid]  # read by the gold type
        batch.rag_input = rag_input
        batch.observations = valid
        return batch

    def batch_act(self, observations):
        replies = super().batch_act(observations)
        if self.opt.get("interactive_mode"):
            for reply in replies:
                if "text" not in reply:  # nothing to answer (an empty message)
                    print("(empty message: type something; [DONE] starts over, [EXIT] leaves)")
                    reply["text"] = ""  # ParlAI's self_observe needs one
        return replies

    def _model_input(self, batch):
        return (batch.rag_input,)

    # ------------------------------------------------------------------ loss
    def compute_loss(self, batch, return_output=False):
        if batch.label_vec is None:
            raise ValueError("Cannot compute loss without a label.")
        model = self.model
        state = model.encoder(*self._model_input(batch))
        ys = batch.label_vec
        if model.training:  # output layer only at the targets
            token_log_probs = model.target_log_probs(state, ys)  # [B, K, T]
        else:  # one pass gives the loss and the accuracy metrics
            logits = model.generator_logits(state, ys)
            token_log_probs = per_passage_target_log_probs(logits, state.doc_scores, ys)
            batch.precomputed_state = state  # generation reuses retrieval and encoding
        notnull = ys.ne(self.NULL_IDX)
        token_log_probs = token_log_probs.masked_fill(~notnull[:, None, :], 0.0)
        target_tokens = notnull.long().sum(-1)
        nll, nll_per_token = self.strategy.loss(token_log_probs, state.doc_scores, notnull)
        if nll_per_token is None:
            self.record_local_metric("loss", AverageMetric.many(nll, target_tokens))
            self.record_local_metric("ppl", PPLMetric.many(nll, target_tokens))
        else:
            self.record_local_metric("loss", AverageMetric.from_mask(nll_per_token, notnull))
            self.record_local_metric("ppl", PPLMetric.from_mask(nll_per_token, notnull))
        preds = None
        if not model.training:
            preds = rag_token_next_log_probs(logits, state.doc_scores).argmax(-1)
            correct = (ys == preds) & notnull
            self.record_local_metric("token_acc", AverageMetric.from_mask(ys == preds, notnull))
            self.record_local_metric(
                "token_em", AverageMetric.many(correct.sum(-1) == target_tokens)
            )
        loss = nll.sum() / target_tokens.sum()
        if model.training and self.opt.get("retrieval_gold_loss") and state.retrieval_scores is not None:
            loss = loss + self.opt["retrieval_gold_loss"] * self._gold_retrieval_loss(batch, state.retrieval_scores)
        return (loss, (None, preds, state)) if return_output else loss

    def _gold_retrieval_loss(self, batch, doc_scores: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``doc_scores`` [B, K] towards the retrieved passage that holds
        each example's gold sentence; examples without one among the K do not count."""
        from rag_dialogue.retrieval.gold import gold_cross_entropy, gold_targets

        targets = gold_targets([r.pairs() for r in self.model.last_retrieval],
                               [gold_passage(obs) for obs in batch.observations])
        targets = torch.tensor(targets, device=doc_scores.device)
        found = targets.ne(-100)
        self.record_local_metric("gold_in_retrieved", AverageMetric.many(found.long()))
        return gold_cross_entropy(doc_scores, targets)

    def _generation_activation(self, score):
        # RagModel already returns normalised log-probabilities; normalising again is
        # a no-op except after ParlAI divides by a temperature.
        if self.temperature == 1.0:
            return score.float()
        return super()._generation_activation(score)

    # ------------------------------------------------------------------ decoding
    def _encoder_input(self, batch):
        precomputed = getattr(batch, "precomputed_state", None)
        return (precomputed,) if precomputed is not None else self._model_input(batch)

    def _generate(self, batch, beam_size, max_ts, prefix_tokens=None):
        # the type decides how it decodes (RAG-Sequence searches per passage, then re-ranks)
        search = super()._generate
        if self._awaits_number(batch, beam_size):
            with self._beam_search(NUMBER_BEAMS):
                found = self.strategy.generate(self, batch, NUMBER_BEAMS, max_ts, prefix_tokens, search)
            return self._unless_numberless(found, batch, max_ts, prefix_tokens, search)
        return self.strategy.generate(self, batch, beam_size, max_ts, prefix_tokens, search)

    def _unless_numberless(self, found, batch, max_ts, prefix_tokens, search):
        """Where the two hypotheses' winner states no number, greedy search's reply, if it
        states one: "When did the Western Roman Empire fall?" -> the search preferred "The
        fall of the Western Roman Empire ... was the loss of central political control ..."
        to greedy's "The Western Roman Empire collapsed in 476 AD"."""
        from rag_dialogue.grounded_numbers import states_number

        preds, trees = found
        awaited = batch.precomputed_state.awaited
        missing = [i for i, (tokens, *_) in enumerate(preds) if awaited[i] and not states_number(self._v2t(tokens))]
        if not missing:
            return found
        greedy_preds, greedy_trees = self.strategy.generate(self, batch, 1, max_ts, prefix_tokens, search)
        preds, trees = list(preds), list(trees)
        for i in missing:
            if states_number(self._v2t(greedy_preds[i][0])):
                preds[i], trees[i] = greedy_preds[i], greedy_trees[i]
        return preds, trees

    def _awaits_number(self, batch, beam_size: int) -> bool:
        """Whether greedy decoding of `batch` widens to NUMBER_BEAMS: a message asks for a
        number that a passage about what it names states (`grounded_numbers.number_about`).
        Greedy search commits to the likeliest next word: "The Panama Canal is an artificial"
        went on " waterway", and the passage's "82-kilometer" was lost for good; with two
        hypotheses, the other keeps it. The encoding done here is the one generation reads."""
        rag_input = getattr(batch, "rag_input", None)
        if (beam_size != 1 or self.opt.get("inference", "greedy") != "greedy" or self.model.training
                or rag_input is None or not rag_input.asks_number or not any(rag_input.asks_number)):
            return False
        state = self.model.encoder(*self._encoder_input(batch))
        batch.precomputed_state = state
        return state.awaited is not None

    @contextlib.contextmanager
    def _beam_search(self, beams: int):
        """ParlAI's tree search is chosen by the options: beam search of `beams` for a while."""
        saved = {key: self.opt.get(key) for key in ("inference", "beam_size")}
        self.opt["inference"], self.opt["beam_size"] = "beam", beams
        try:
            yield
        finally:
            self.opt.update(saved)

    def _strip_start(self, tokens) -> tuple:
        tokens = tokens.tolist()
        return tuple(tokens[1:] if tokens and tokens[0] == self.START_IDX else tokens)

    # ------------------------------------------------------------------ evaluation
    def train_step(self, batch):
        output = super().train_step(batch)
        progress.advance(steps=1, step=self._number_training_updates)
        return output

    def eval_step(self, batch):
        # ParlAI's eval_step sets eval mode, but the decline check retrieves before it: the
        # query encoder's dropout made a chat's first reply (and every decline) a draw
        self.model.eval()
        output = self._decline_before_generating(batch)
        generated = output is None
        self._saying_again = None
        if generated:
            passages = getattr(batch.rag_input, "passages", None) if hasattr(batch, "rag_input") else None
            # a reply that may be replaced by its passage's sentence is shown when checked
            self._hold_stream = bool(passages and any(self._answering_sentences(batch, passages)))
            output = super().eval_step(batch)
            self._hold_stream = False
            output = self._with_the_number_asked(batch, output)
            output = self._unless_unsupported(batch, output)
            output = self._unless_a_repeat(batch, output)
            output = self._with_its_subject(batch, output)
        progress.advance(len(batch.valid_indices) if batch.valid_indices is not None else 0)
        if output is None or output.get("text") is None:
            return output
        retrievals = self.model.last_retrieval if self.strategy.retrieves else []
        if generated:
            self._without_passage_headers(batch.observations, output, retrievals)
        if generated and retrievals and self.opt.get("decline_unsupported", True):
            self._decline_unsupported(batch.observations, output, retrievals)
        output["metrics"] = [
            self._example_metrics(obs, text, retrievals[i] if retrievals else None)
            for i, (obs, text) in enumerate(zip(batch.observations, output["text"]))
        ]
        if retrievals:
            output["retrieved_docs"] = [
                [{"id": p.id, "title": p.title, "text": p.text, "score": s}
                 for p, s in zip(r.passages, r.scores)]
                for r in retrievals
            ]
            if self.opt.get("interactive_mode"):
                attributions = (self._attributions(batch, output["text"])
                                if self.opt.get("print_attribution") else [None] * len(retrievals))
                shown = []
                for retrieval, attribution in zip(retrievals, attributions):
                    if self.opt.get("print_docs"):
                        shown.append(format_docs(retrieval))
                    if attribution:
                        shown.append(attribution)
                if self.on_text is None:
                    for line in shown:
                        print(line)
                else:  # a streamed reply is still being printed: the chat shows them after it
                    self.pending_lines = shown
        return output

    # ------------------------------------------------------------------ chat
    def _treesearch_factory(self, device, verbose=False):
        tree = super()._treesearch_factory(device, verbose=verbose)
        # ParlAI builds greedy search with min_length 0, so the end token may come first: an
        # empty reply. --beam-min-length holds for greedy decoding too.
        tree.min_length = max(tree.min_length, self.beam_min_length)
        spare_numbers_from_ngram_blocking(tree, self.model.number_tokens())
        if self.model.names_from_passages and self.model.strategy.grounded:
            spare_names_from_ngram_blocking(tree, self.model.name_tokens())
        from rag_dialogue.reply_length import end_at_line_break

        breaks, one_turn = self._line_breaks(), tree.advance

        def advance(logprobs, step_index):
            one_turn(end_at_line_break(logprobs, *breaks, self.END_IDX), step_index)

        tree.advance = advance
        max_sentences = self.opt.get("max_reply_sentences") or 0
        if max_sentences > 0:
            from rag_dialogue.reply_length import block_new_sentences

            limited = tree.advance

            def advance(logprobs, step_index):
                texts = [self._v2t(hyp) for hyp in tree.partial_hyps]
                limited(block_new_sentences(logprobs, texts, max_sentences, self._space_led()), step_index)

            tree.advance = advance
        if self.on_text is not None and self.strategy.streams and not self._hold_stream:
            step = tree.advance

            def advance(logprobs, step_index):
                step(logprobs, step_index)
                self.on_text(self._agreed_text(tree))

            tree.advance = advance
        return tree

    def _agreed_text(self, tree) -> str:
        """What every hypothesis of a search so far agrees on, the finished ones included
        (greedy search: its one hypothesis): what will stand whichever of them wins."""
        hyps = list(tree.partial_hyps)
        hyps += [tree._get_pretty_hypothesis(tree._get_hyp_from_finished(end)) for end in tree.finished]
        return os.path.commonprefix([self._v2t(hyp) for hyp in hyps])

    def _line_breaks(self) -> tuple:
        """`reply_length.line_break_tokens` of the generator's vocabulary (found once)."""
        if self._line_break_masks is None:
            from rag_dialogue.reply_length import line_break_tokens

            backend = self.model.backend
            self._line_break_masks = line_break_tokens(
                backend.tokenizer, backend.generator.get_output_embeddings().weight.size(0))
        return self._line_break_masks

    def _space_led(self) -> torch.BoolTensor:
        if self._space_led_mask is None:
            from rag_dialogue.reply_length import space_led_tokens

            backend = self.model.backend
            self._space_led_mask = space_led_tokens(
                backend.tokenizer, backend.generator.get_output_embeddings().weight.size(0))
        return self._space_led_mask

    def _turns(self, obs) -> List[str]:
        """The dialogue's turns up to and including `obs`'s message (ParlAI's history, its
        `full_text`, split at the delimiter)."""
        return obs.get("full_text", obs.get("text", "")).split(self.opt.get("delimiter", "\n"))

    def _chatting(self, batch) -> bool:
        return bool(self.opt.get("interactive_mode")) and batch.label_vec is None \
            and self.strategy.retrieves and batch.text_vec is not None

    def _decline_before_generating(self, batch):
        """In a chat, a message of small talk only is answered in kind (`small_talk`), one
        that asks for advice or a recommendation, or for the chat's favourite, is told the
        chat has no taste of its own,
        one that asks what is happening now is told the chat cannot know it, an opening that
        says nothing to talk about ("why?") is asked what it is about, and a
        question whose passages do not hold what it asks about is declined, both without
        generating (nothing is streamed that is then taken back)."""
        if not self._chatting(batch):
            return None
        from parlai.core.torch_agent import Output

        from rag_dialogue.small_talk import (about_the_moment, asks_for_advice, asks_its_favourite, reply_to,
                                             unclear_opening)

        delimiter = self.opt.get("delimiter", "\n")
        messages = [obs.get("text", "").split(delimiter)[-1] for obs in batch.observations]
        small_talk = [reply_to(m) or asks_for_advice(m) or asks_its_favourite(m) or about_the_moment(m)
                      or (unclear_opening(m) if len(self._turns(obs)) == 1 else None)
                      for m, obs in zip(messages, batch.observations)]
        if all(small_talk):  # "hi", "thanks", "bye", "what time is it?": nothing retrieved
            self.model.last_retrieval = []
            return Output(small_talk)
        if not self.opt.get("decline_unsupported", True):
            return None

        with torch.no_grad():
            retrievals, scores = self.model.retrieve(batch.rag_input.query, batch.rag_input.said,
                                                     batch.rag_input.names, batch.rag_input.questions,
                                                     message_query=batch.rag_input.message_query,
                                                     message_weight=batch.rag_input.message_weight)
        self.model.last_retrieval = retrievals
        replies = self._declines(batch.observations, retrievals)
        if any(r is None for r in replies):
            # generation reads these passages rather than retrieving them a second time
            batch.rag_input.passages = [r.pairs() for r in retrievals]
            batch.rag_input.doc_scores = scores
            return None
        return Output(replies)

    def _answering_sentences(self, batch, passages, asked: Optional[str] = None) -> List[List[str]]:
        """Per example, the sentences of its passages (title, text pairs) that give the
        number its message (or `asked`, the one example's message completed: "When?" ->
        "When was it given?") asks for (`grounded_numbers.answering_sentences`); [] where it
        asks for none, or with --answer-asked-number off."""
        from rag_dialogue.grounded_numbers import answering_sentences, asks_for_number

        rag_input = getattr(batch, "rag_input", None)
        asks = [asks_for_number(asked)] if asked else getattr(rag_input, "asks_number", None)
        if not (asks and any(asks) and self.opt.get("answer_asked_number", True)):
            return [[] for _ in batch.observations]
        from rag_dialogue.abstain import of_the_subject, retrieval_names, with_topic_names

        delimiter = self.opt.get("delimiter", "\n")
        found = []
        for i, (obs, example) in enumerate(zip(batch.observations, passages)):
            message = asked or obs.get("text", "").split(delimiter)[-1]
            said = self._turns(obs)
            names = rag_input.names[i] if rag_input.names else retrieval_names(message)
            on_topic = of_the_subject(example, message, said)  # a follow-up keeps to the dialogue's subject
            if len(on_topic) < len(example):  # ... and asks of it: "How many people died?" after the Titanic
                names = with_topic_names(list(names), message, said)
            example = on_topic
            found.append(answering_sentences(message, names, example) if asks[i] else [])
        return found

    def _with_the_number_asked(self, batch, output):
        """A reply to a question for a number that does not give the number its passages
        about what it asks give (`grounded_numbers.states_asked_number`) is replaced by the
        first of their sentences that give it: the generator, asked "How many players does
        a basketball team have on the court?" with "two teams of five players each" ranked
        first, said "A basketball team consists of two players each." A sentence of the
        passage is a read-out, but a true one."""
        retrievals = self.model.last_retrieval if self.strategy.retrieves else None
        if output is None or not output.get("text") or not retrievals:
            return output
        from rag_dialogue.grounded_numbers import states_asked_number

        delimiter = self.opt.get("delimiter", "\n")
        passages = [r.pairs() for r in retrievals]
        for i, sentences in enumerate(self._answering_sentences(batch, passages)):
            message = batch.observations[i].get("text", "").split(delimiter)[-1]
            if sentences and not states_asked_number(output["text"][i], message, sentences):
                output["text"][i] = sentences[0]
        return output

    def _with_its_subject(self, batch, output):
        """In a chat, a reply that reads out a passage sentence led by a pronoun is led by
        the passage's title where the dialogue does not name it (`abstain.with_its_subject`),
        and so is one that gives the superlative asked of a subject it does not name
        (`abstain.with_the_one_ranked`: "Venus: ..., making it the hottest planet")."""
        if not (self._chatting(batch) and output is not None and output.get("text") and self.model.last_retrieval):
            return output
        from rag_dialogue.abstain import with_its_subject, with_the_one_ranked

        passages, turns = self.model.last_retrieval[0].pairs(), self._turns(batch.observations[0])
        output["text"][0] = with_the_one_ranked(with_its_subject(output["text"][0], passages, turns), passages, turns)
        return output

    def _unless_a_repeat(self, batch, output):
        """In a chat, a reply that says nothing new (`abstain.says_nothing_new`) is generated
        again with the passages it came from counted as said (so the next best take their
        place); if that one says nothing new either, the passages' sentence that shares most
        words with the message and repeats nothing said answers (`abstain.passage_reply`:
        "I love cooking pasta on weekends." -> "Pasta is a staple food of Italian cuisine,
        ...", where both tries said the message back), else the reply says it knows no
        more. A decline is not generated again: "I don't know" may be said twice."""
        if not self._chatting(batch) or output is None or not output.get("text"):
            return output
        from rag_dialogue import metrics
        from rag_dialogue.abstain import NOTHING_MORE, decline_reply, passage_reply, says_nothing_new

        delimiter = self.opt.get("delimiter", "\n")
        message = batch.observations[0].get("text", "").split(delimiter)[-1]

        def stale(reply: str) -> bool:
            return says_nothing_new(reply, message, self._replies)

        text = output["text"][0]
        if stale(text) and not metrics.declines(text) and text != self._saying_again:
            retrieval = self.model.last_retrieval[0]
            # the reply's likeliest sources: the passages that share most of its words, else
            # the passage the retriever ranked first
            sources = self._said_parts(text, retrieval) or [retrieval.passages[0].text]
            self._used_passages.extend(sources)
            said = batch.rag_input.said or [""] * len(output["text"])
            batch.rag_input.said = [s + "\n" + "\n".join(sources) for s in said]
            batch.rag_input.passages = batch.rag_input.doc_scores = None  # retrieved anew
            batch.precomputed_state = None
            self._local_metrics.clear()  # the first try's are replaced by the second's
            again = self._unless_unsupported(batch, super().eval_step(batch))  # the second try is checked too
            if again is not None and again.get("text") and not stale(again["text"][0]):
                output = again
            else:
                turns = self._turns(batch.observations[0])
                output["text"][0] = (passage_reply(self.model.last_retrieval[0].pairs(), self._replies + turns, message)
                                     or (NOTHING_MORE if self._replies else decline_reply([])))
        reply, retrieval = output["text"][0], self.model.last_retrieval[0]
        sources = self._sources(reply, retrieval)
        self._replies.append(reply)
        self._used_passages.extend(self._said_parts(reply, retrieval))
        titles = [p.title for p in retrieval.passages if p.text in sources[:1]]
        if titles and not metrics.declines(reply):
            self._answered.append((titles[0], reply))
        return output

    def _unless_unsupported(self, batch, output):
        """In a chat, a reply that fails one of `reply_checks.fault`'s checks (it claims
        what its passages and the dialogue do not support, joins two passages into a claim
        neither makes, babbles, or answers nothing of what was asked) gives way to the
        passages' sentence that shares most words with the message and that no earlier
        reply said (`abstain.passage_reply`), or, for a question for a number, the first
        sentence that gives it (`_answering_sentences`), or its first sentences where those
        pass (`_supported_lead`). Asked "What is the tallest animal?" with Giraffe's "They
        are the tallest living terrestrial animals" ranked first, the generator said "The
        tallest animal is the giant panda." A message whose first name no passage holds is
        declined by that name ("I'm sorry, I don't know anything about the Glimmerfen
        Bridge.", not Oslo's first sentence). A question that no passage sentence answers
        (`passage_reply` finds none that holds what it asks) is declined; one about the chat
        itself ("What's your favourite kind?") is returned (`abstain.OF_ITSELF`), as it has
        no tastes of its own to tell. Babble gives way too: a true sentence serves better
        than a second try that passes over the passages the first drew on
        (`_unless_a_repeat`, which still takes a fluent repeat). The check that took a reply
        back is written to the chat's log. Only the chat does this: the experiment measures
        what the generator says."""
        if not (self._chatting(batch) and self.opt.get("chat_passage_fallback", True)
                and output is not None and output.get("text") and self.model.last_retrieval):
            return output
        from rag_dialogue import metrics
        from rag_dialogue.abstain import (OF_ITSELF, another_subject, asks_the_listener, completed_question,
                                          decline_reply, gives_no_place, gives_no_reason, holds_some_asked,
                                          leaves_out_superlative, names_no_one, passage_reply, tells_another_deed,
                                          tells_not_how_died, unheld_subject)
        from rag_dialogue.grounded_numbers import (counts_another_whole, gives_no_number, holds_the_event,
                                                   tells_another_event)
        from rag_dialogue.reply_checks import SUPPORT_THRESHOLD, checks, first_failed, joining_checks, knowledge_text

        text, retrieval = output["text"][0], self.model.last_retrieval[0]
        turns = self._turns(batch.observations[0])
        completed = completed_question(turns)  # "When?" after "Who discovered penicillin?" asks when that was
        turns = turns[:-1] + [completed] if completed else turns
        passages = retrieval.pairs()
        knowledge = knowledge_text(passages)
        said = self._replies + turns[:-1]
        threshold = self.opt.get("chat_support_threshold", SUPPORT_THRESHOLD)
        every_check = checks(passages, turns, said, threshold)
        failed = None if metrics.declines(text) else first_failed(every_check, text)
        if failed is None:
            return output
        logger.info(f"chat reply taken back ({failed}): {text!r}")
        joining = joining_checks(passages, turns, said)

        def joins(reply: str) -> bool:
            return first_failed(joining, reply) is not None

        # a question for a number is answered by the sentence that gives it, where one does
        # (to "When?" completed, one that holds some of what it asks: "When was it first
        # climbed?" is not answered by "Its height was most recently measured in 2020")
        answering = [s for s in self._answering_sentences(batch, [passages], completed)[0]
                     if s not in self._replies and not counts_another_whole(s, turns[-1])
                     and (not completed or holds_some_asked(s, completed))]

        def retaken(pool) -> list:  # the check that took the reply back, judged beside `pool`
            return [c for c in (every_check if pool is passages else checks(pool, turns, said, threshold))
                    if c[0] == failed]

        def answers(instead: str, pool=passages, said_again: bool = False) -> bool:
            if metrics.declines(instead):
                return True
            untitled = _untitled(instead, pool)
            # a passage's sentence that does not answer either, or one that fails the check
            # that took the reply back (a lead the measure's own threshold calls faithful,
            # the chat's stricter one not)
            message = turns[-1]
            return not (counts_another_whole(instead, message)
                        or names_no_one(untitled, message, [knowledge_text(pool)])
                        or gives_no_number(instead, message) or gives_no_reason(instead, message)
                        or gives_no_place(instead, message)
                        or tells_not_how_died(instead, message)
                        or leaves_out_superlative(instead, message) or not holds_the_event(instead, message, turns)
                        or another_subject(instead, message, turns, pool)
                        or tells_another_event(untitled, message, turns) or tells_another_deed(untitled, message)
                        # (an earlier reply said again claims nothing new, as the repeat taken back did)
                        or first_failed([c for c in retaken(pool) if not (said_again and c[0] == "claims_nothing")],
                                        untitled))

        # the first stand-in that answers: a lead of the reply that claims what its passages
        # do not ("gravity is a fundamental interaction between matter and the vacuum of
        # space") gives way to the passages' own sentence
        stand_ins = [lambda: answering[0]] if answering else [
            lambda: unheld_subject(turns[-1], passages),
            lambda: _supported_lead(text, turns[-1], knowledge, turns, joins),
            lambda: passage_reply(passages, self._replies + turns, turns[-1])]
        instead = next((s for s in (make() for make in stand_ins) if s and answers(s)), None)
        listener = asks_the_listener(turns[-1])
        if not instead and "?" in turns[-1] and not listener:
            instead = self._further_stand_in(batch, passages, turns, answers) or self._answered_before(turns, answers)
        if not instead and ("?" in turns[-1] or listener):
            # no passage sentence holds what it asks: say so
            instead = OF_ITSELF if listener else decline_reply([])
        if instead:
            output["text"][0] = instead
        return output

    def _answered_before(self, turns, answers) -> Optional[str]:
        """An earlier reply of this chat that answers the question (`abstain.passage_reply`
        over the replies, each titled by the passage it came from, and `answers`, judged
        beside them), said again rather than declined: "Who wrote it?", after "Pride and
        Prejudice is a novel by English author Jane Austen.", was declined, as the one
        passage that says so had been said."""
        from rag_dialogue.abstain import passage_reply

        # what the speaker said, and the replies' sources, which the dialogue spoke of
        # (a follow-up, "When?" after "Who climbed it first?", keeps to those)
        asked = [turn for turn in turns[:-1] if turn not in self._replies] + [title for title, _ in self._answered]
        again = passage_reply(self._answered, asked, turns[-1])
        self._saying_again = again if again and answers(again, self._answered, said_again=True) else None
        return self._saying_again

    def _further_stand_in(self, batch, passages, turns, answers) -> Optional[str]:
        """For a question whose reply was taken back and whose own passages hold no sentence
        that answers it, the first sentence of the passages ranked after them (down to
        --chat-further-docs; to a follow-up, those about the dialogue's subject:
        `abstain.on_topic`) that does (`answers`, judged beside all of them): to a
        question for a number, a sentence that gives that number of what it asks
        (`grounded_numbers.answering_sentences`, of the passages about what it names, or
        of those whose titles the dialogue holds: "around 206 bones by adulthood", not "The
        bone mass ... about 14% of the total body weight"); to another, the first three of
        `abstain.passage_reply`'s. The dense search ranks an article by its words before
        its facts: "Who discovered penicillin?" found five sentences of Penicillin, none
        naming anyone, before Alexander Fleming's "... for the discovery of penicillin".
        The sentence's passage joins the retrieval, so it is shown and logged with the
        others. None where none answers."""
        further = self.opt.get("chat_further_docs", CHAT_FURTHER_DOCS) or 0
        if further <= len(passages):
            return None
        from rag_dialogue.abstain import conversation_names, of_the_dialogue, writes_the_title
        from rag_dialogue.grounded_numbers import answering_sentences, holds_the_event, number_check
        from rag_dialogue.metrics import passage_sentences
        from rag_dialogue.retrieval.query import topic_share

        inp = batch.rag_input
        with torch.no_grad():
            wide, _ = self.model.retrieve(inp.query, inp.said, inp.names, inp.questions,
                                          message_query=inp.message_query, message_weight=inp.message_weight,
                                          k=further)
        own, message, said = set(passages), turns[-1], self._replies + turns
        extra = [(p, s) for p, s in zip(wide[0].passages, wide[0].scores) if (p.title, p.text) not in own]
        pool = list(passages) + [(p.title, p.text) for p, _ in extra]
        asked = of_the_dialogue([(p.title, p.text) for p, _ in extra], message, said)
        gives = number_check(message)
        if gives is not None:
            # of the passages about what it names (as `_answering_sentences`), or whose titles
            # the dialogue holds: "When?" after "Alexander Fleming: He shared ..." is his
            dialogue = "\n".join(said)
            titled = [s for title, text in asked if topic_share(dialogue, title) == 1.0
                      and writes_the_title(dialogue, title)  # not "August" for "Frédéric Auguste Bartholdi"
                      for s in passage_sentences(text) if gives(s) and holds_the_event(s, message, said)]
            found = answering_sentences(message, conversation_names(message, turns), asked) + titled
            candidates = [s for s in dict.fromkeys(found) if s not in self._replies]
        else:
            candidates = _passage_replies(asked, said, message, tries=3)
        for sentence in candidates:
            if answers(sentence, pool):
                source = next(((p, s) for p, s in extra if _untitled(sentence, [(p.title, p.text)]) in p.text), None)
                if source is not None:
                    retrieval = self.model.last_retrieval[0]
                    self.model.last_retrieval[0] = Retrieval(retrieval.passages + [source[0]],
                                                             list(retrieval.scores) + [source[1]])
                return sentence
        return None

    @staticmethod
    def _sources(reply: str, retrieval) -> List[str]:
        """Texts of the retrieved passages that hold at least half of the reply's content words."""
        from rag_dialogue.metrics import content_words

        words = set(content_words(reply))
        if not words:
            return []
        return [p.text for p in retrieval.passages
                if len(words & set(content_words(p.text))) >= 0.5 * len(words)]

    @classmethod
    def _said_parts(cls, reply: str, retrieval) -> List[str]:
        """What the reply said of its sources (`_sources`): the sentences of each that it holds
        half the content words of, or the whole passage where it holds no sentence's half.
        A passage of several sentences is not all said when one is: after "Sennet bread is a
        flat rye bread from ...", "How is it baked?" still finds its paragraph's "It is baked
        on hot stones ..."."""
        from rag_dialogue.metrics import content_words, passage_sentences

        words = set(content_words(reply))
        parts = []
        for text in cls._sources(reply, retrieval):
            drawn = [s for s in passage_sentences(text)
                     if (held := set(content_words(s))) and len(held & words) >= 0.5 * len(held)]
            parts.extend(drawn or [text])
        return parts

    def _declines(self, observations, retrievals) -> List[Optional[str]]:
        """Per example, the decline for a message whose passages do not hold what it asks
        about, else None (see rag_dialogue/abstain.py)."""
        from rag_dialogue.abstain import NOTHING_MORE, unanswered_number, unsupported_question

        delimiter = self.opt.get("delimiter", "\n")
        declines = []
        for obs, r in zip(observations, retrievals):
            message, passages = obs.get("text", "").split(delimiter)[-1], r.pairs()
            said = self._turns(obs)[:-1]  # the dialogue before it
            decline = unsupported_question(message, passages, self._vocabulary(), said)
            if decline is None and self.opt.get("answer_asked_number", True):
                decline = unanswered_number(message, passages)
                said_before = [("", s) for s in self._said_sentences(message)]
                if decline is not None and said_before and unanswered_number(message, said_before) is None:
                    # a number of the kind asked was in a reply before, from a passage now
                    # passed over as said: that was all it knows, not nothing. Asked "How
                    # tall is it?" after a reply gave Mount Fuji's elevation, it says it again
                    decline = self._said_number(message) or NOTHING_MORE
            declines.append(decline)
        return declines

    def _said_number(self, message: str) -> Optional[str]:
        """The latest sentence of this chat's replies that gives the number `message` asks
        for, of the kind asked (`grounded_numbers.number_check`), or None."""
        from rag_dialogue.grounded_numbers import number_check

        gives = number_check(message)
        found = [s for s in self._said_sentences(message) if gives and gives(s)]
        return found[-1] if found else None

    def _said_sentences(self, message: str) -> List[str]:
        """The sentences of this chat's replies that may answer `message`: to a question for
        a date, those that hold a content word of it, if it has any. A year says when
        something happened: asked "When did she die?" after a reply about Jane Austen's
        novel "published in 1813", the chat said that sentence again."""
        from rag_dialogue.grounded_numbers import asked_number
        from rag_dialogue.metrics import content_words, passage_sentences, stem

        sentences = [s for reply in self._replies for s in passage_sentences(reply)]
        about = {stem(w) for w in content_words(message)} if asked_number(message) == "date" else set()
        return [s for s in sentences if not about or about & {stem(w) for w in content_words(s)}]

    def _vocabulary(self):
        """Whether a word is one its tokenizers know (`abstain.tokenizer_vocabulary`): the
        generator's and the query encoder's."""
        if getattr(self, "_is_word", None) is None:
            from rag_dialogue.abstain import tokenizer_vocabulary

            tokenizers = [self.dict.hf_tokenizer] + [
                e.tokenizer for e in [getattr(self.model, "query_encoder", None)] if e is not None]
            self._is_word = functools.lru_cache(maxsize=None)(tokenizer_vocabulary(*tokenizers))
        return self._is_word

    def _without_passage_headers(self, observations, output, retrievals):
        """Each reply without a leading "title / " its passages' layout lends it."""
        from rag_dialogue.backends import without_passage_header

        for i, (obs, text) in enumerate(zip(observations, output["text"])):
            if not text:
                continue
            if retrievals:
                titles = [p.title for p in retrievals[i].passages]
            else:
                gold = gold_passage(obs)
                titles = [gold[0]] if gold else []
            output["text"][i] = without_passage_header(text, titles)

    def _decline_unsupported(self, observations, output, retrievals):
        """Replace each reply to a question whose passages do not hold what it asks about
        with a reply that says so."""
        for i, decline in enumerate(self._declines(observations, retrievals)):
            if decline is not None:
                output["text"][i] = decline

    def _attributions(self, batch, texts) -> List[Optional[str]]:
        """Each reply split into runs of words by the passage they most likely came from
        (None per reply where the generation type has no passage to attribute to)."""
        ys, _ = self._pad_tensor([self.dict.txt2vec(t) for t in texts], is_label=True)
        with torch.no_grad():
            state = self.model.encoder(*self._encoder_input(batch))  # reuses eval's state
            posteriors = self.strategy.attribution(
                self.model.target_log_probs(state, ys.to(state.device)), state.doc_scores
            )  # [B, T, K]
        if posteriors is None:
            return [None] * len(texts)
        return [render_attribution([t for t in tokens if t != self.NULL_IDX], post, self.dict.hf_tokenizer)
                for tokens, post in zip(ys.tolist(), posteriors)]

    def _example_metrics(self, obs, response: str, retrieval) -> dict:
        from rag_dialogue import metrics

        found = {}
        gold = gold_passage(obs)
        if retrieval is not None and gold is not None:
            hit = metrics.gold_passage_retrieved(
                retrieval.pairs(), gold[0], gold[1]
            )
            if hit is not None:
                found[f"recall@{len(retrieval.passages)}"] = AverageMetric(int(hit))
        return found


def _passage_replies(passages, said, message: str, tries: int):
    """Up to `tries` of `abstain.passage_reply`'s sentences for `message`, each the best
    of what the ones before it leave."""
    from rag_dialogue.abstain import passage_reply
    from rag_dialogue.metrics import passage_sentences

    for _ in range(tries):
        reply = passage_reply(passages, said, message)
        if not reply:
            return
        yield reply
        sentence = _untitled(reply, passages)
        passages = [(title, " ".join(s for s in passage_sentences(text) if s != sentence)) for title, text in passages]
        passages = [(title, text) for title, text in passages if text]


def _untitled(reply: str, passages) -> str:
    """`reply` without the passage title `passage_reply` leads a pronoun's sentence with
    ("Great Pyramid of Giza: It was built c. 2600 BC ..."): the title names what the
    sentence speaks of, not who did what a question asks."""
    from rag_dialogue.abstain import _PARENTHESIS

    for title, _ in passages:
        for lead in {title, _PARENTHESIS.sub("", title or "").strip()}:
            if lead and reply.startswith(f"{lead}: "):
                return reply[len(lead) + 2:]
    return reply


def _supported_lead(reply: str, message: str, knowledge: str, turns, joins) -> Optional[str]:
    """The longest run of `reply`'s first whole sentences (not all of them) that says
    something and joins no two passages into a claim (`joins`): a claim its passages hold,
    or, to a message that asks the listener ("Hi! How are you today?"), words about itself
    that claim nothing of the world (`metrics.is_inconsistent`): "I'm fine, I think.", not
    what followed, "Greeting is an act of communication in which human beings
    intentionally make their presence known to" (a chat reply, cut at its length), or, to a
    message that tells of its speaker (`abstain.tells_of_oneself`), the same: "I know that
    can be really frustrating.", to "I've been feeling really tired lately.", not what
    followed, about chickenpox. A lead
    does not end inside a name: "The tallest mountain in the world is Mount." is no lead of
    "... is Mount. Everest, ..." (`_inside_a_name`). None where no lead does."""
    from rag_dialogue import metrics
    from rag_dialogue.abstain import asks_the_listener, tells_of_oneself

    sentences = metrics.passage_sentences(reply)
    talks_with = asks_the_listener(message) or tells_of_oneself(message)  # words about itself may answer
    for end in range(len(sentences) - 1, 0, -1):
        lead = " ".join(sentences[:end])
        if _inside_a_name(sentences[end - 1], sentences[end]) or metrics.is_degenerate(lead) \
                or metrics.declines(lead) or joins(lead):
            continue
        category = metrics.response_category(lead, knowledge, turns)
        if category == "faithful" or (category in ("hallucinated", "no_claim") and talks_with and (
                not metrics.is_inconsistent(lead, knowledge, turns)
                or not metrics.unsupported_rare_words(lead, knowledge, turns))):  # everyday words claim no fact
            return lead
    return None


def _inside_a_name(sentence: str, following: str) -> bool:
    """Whether the break between `sentence` and the `following` one may fall inside a name:
    the sentence ends in a capitalised word that does not open it, and the next opens with
    one that is not an everyday word ("... is Mount. Everest, ...", "in St. Louis"; not
    "... by Leonardo. He died ...")."""
    from rag_dialogue import metrics

    last, first = sentence.split()[1:][-1:], following.split()[:1]
    if not (last and first and last[0].rstrip(".")[:1].isupper() and first[0][:1].isupper()):
        return False
    word = first[0].strip(".,;:!?\"'’").lower()
    return word not in metrics.default_rare_words().common and word not in metrics.stopwords()
