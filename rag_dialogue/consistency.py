"""Model-based hallucination measures: options for `rag-dialogue metrics validate --models`,
never used by the teachers (they need a model and are far slower than
`metrics.hallucination_score`).

`checker:DIR`: the trained factual-consistency checker that `rag-dialogue metrics
train-checker` built in DIR (`rag_dialogue.checker`), alone and combined with
`metrics.inconsistency_score`'s evidence.

`lm`: the packaged SmolLM2-135M's likelihood ratio, the mean log-probability of the reply
with the knowledge in the prompt minus without it; a reply the knowledge does not make more
likely is scored as more likely hallucinated. Two forward passes a reply on the CPU: about
0.6 s on an idle 2-core machine, 3 s on a loaded one (some 50 minutes to hours for 5,000
replies, against some 20 s for the lexical scores; 11.8 s a reply measured on a 2-core machine under
heavy load). Measured ROC AUC alone: 0.893 on BEGIN's WoW dev set, 0.724 on the Q² consistency
dev half (the lexical score then: 0.940, 0.783), 0.680 on DialFact's test sample of factual
claims (`hallucination_score` 0.733, `inconsistency_score` 0.738, token F1 0.665); added to
the lexical score in a logistic model it gains +0.01 and +0.002 (10-fold cross-validated), so
the default stays lexical. The factual-consistency measure that is cheap,
`metrics.inconsistency_score`, is lexical too.
"""

import functools

MAX_PROMPT_TOKENS = 400
MAX_REPLY_TOKENS = 80


@functools.lru_cache(maxsize=1)
def _language_model():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rag_dialogue.causal_lm import packaged_dir

    folder = str(packaged_dir())
    return AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32).eval()


def _mean_log_probability(prompt: str, reply: str) -> float:
    import torch

    tokenizer, model = _language_model()
    prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids[:, -MAX_PROMPT_TOKENS:]
    reply_ids = tokenizer(" " + reply, return_tensors="pt").input_ids[:, :MAX_REPLY_TOKENS]
    ids = torch.cat([prompt_ids, reply_ids], 1)
    with torch.no_grad():
        log_probs = model(ids).logits[0, prompt_ids.shape[1] - 1:-1].log_softmax(-1)
    return log_probs.gather(1, reply_ids[0][:, None]).mean().item()


def lm_ratio(response: str, knowledge, history) -> float:
    """Mean log-probability of `response` under the packaged SmolLM2 with the knowledge in
    the prompt, minus without it (knowledge cut to its last 1,500 characters, history to 500;
    each a string or a list of strings, as in `metrics`)."""
    from rag_dialogue.metrics import _as_text

    dialogue = "Dialogue:\n" + _as_text(history)[-500:] + "\nReply:"
    with_knowledge = "Knowledge: " + _as_text(knowledge)[-1500:] + "\n" + dialogue
    return _mean_log_probability(with_knowledge, response or "") - _mean_log_probability(dialogue, response or "")


def measures(name: str, examples=()) -> dict:
    """validate's (score, decision) entries of the model-based measure `name`: "lm", or
    "checker:DIR" (a checker that `rag-dialogue metrics train-checker` built in DIR), which
    reads the `examples` it will score in batches first."""
    if name == "lm":
        return {"- LM likelihood ratio (packaged SmolLM2)": (
            lambda e: -lm_ratio(e.response, e.knowledge, e.history), None)}
    if name.startswith("checker:"):
        from rag_dialogue.checker import Checker

        checker = Checker(name.split(":", 1)[1])
        checker.read([(e.response, e.knowledge) for e in examples])
        return {
            "checker logit alone (trained)": (lambda e: checker.logit(e.response, e.knowledge), None),
            "inconsistency_score + checker / is_inconsistent": (
                lambda e: checker.score(e.response, e.knowledge, e.history),
                lambda e: checker.is_inconsistent(e.response, e.knowledge, e.history)),
        }
    raise ValueError(f"unknown model-based measure {name!r}; known: lm, checker:DIR")
