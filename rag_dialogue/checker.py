"""A trained factual-consistency checker: an option beside the lexical measures.

`metrics.inconsistency_score` judges by words, and factual-consistency labels turn on
meaning that keeps the words ("it consists of three inclined railways" against "two inclined
railways"; "women aren't allowed to outlive women"). The checker is the packaged
all-MiniLM-L6-v2 fine-tuned as a cross-encoder (knowledge, response) -> one logit, higher for
more likely inconsistent, in two stages:

1. **Synthetic pairs** (`synthetic_pairs`), made from the vital-article sentences as FactCC
   made them from news: a sentence or a clause of it is consistent with it; the sentence
   with two of its words swapped, a word from a neighbouring sentence put in, a number
   changed, a negation flipped, the start of one sentence joined to the end of another, or
   another article's sentence is not. No label is needed.
2. **Human labels** (dev portions only): fine-tuned again on labelled responses, such as the
   Q² dev halves in `tests/data/`.

Its logit is then combined with the lexical evidence of `inconsistency_score`
(`metrics.CONSISTENCY_FEATURES`) in a logistic model fitted on the same labels, with the
checker's logits out of fold (each scored by a checker fine-tuned without it) so the
combination does not trust a logit that saw its own label. `rag-dialogue metrics
train-checker --out DIR` builds it (18 minutes on a 2-core machine), and `rag-dialogue
metrics validate --models checker:DIR` reports the checker alone and combined. 5,000
responses with 120 words of knowledge each take 142 s, against 5 s for the lexical scores
(`bench/bench_metrics.py --checker DIR`), so the teachers never use it: the default measures
stay lexical.
"""

import json
import math
import random
import re
from pathlib import Path

SYNTHETIC_PAIRS = 8000
FOLDS = 5
LABEL_EPOCHS = 3
BATCH = 16
MAX_TOKENS = 160  # knowledge + response; WoW's knowledge sentences and replies fit
COMBINATION_FILE = "combination.json"
EVIDENCE_WORDS = 120  # knowledge longer than this is cut to the sentences that match the response best

_STOPWORDS = frozenset(
    "the a an of in on at to and or is was are were be been by for with as from that this it its "
    "his her their they he she which who also has had have not but than into".split())
_FRAMES = ("i think ", "i do know that ", "well , ", "yes , ", "did you know that ", "i read that ",
           "i love it ! ", "that's cool . ", "i'm not sure , but ", "oh yes , ")
_TAILS = (" do you like it ?", " have you heard of it ?", " i think it's great .", " pretty interesting , right ?")
_NEGATED = {"is": "is not", "was": "was not", "are": "are not", "were": "were not", "can": "cannot",
            "has": "has not", "had": "had not"}


# --- synthetic pairs -------------------------------------------------------------------

def _content_positions(words: list[str]) -> list[int]:
    return [i for i, w in enumerate(words)
            if len(w.strip(",.;:()\"'")) >= 3 and w.lower().strip(",.;:()\"'") not in _STOPWORDS]


def _as_said(text: str, rng: random.Random) -> str:
    """`text` as a dialogue reply: half the time lowercased and tokenised as model output
    is, half the time in a frame ("i do know that ...") and sometimes with a question after."""
    if rng.random() < 0.5:
        text = " ".join(re.sub(r"([.,!?;:()'])", r" \1 ", text.lower()).split())
    if rng.random() < 0.5:
        text = rng.choice(_FRAMES) + text[:1].lower() + text[1:]
    return text + (rng.choice(_TAILS) if rng.random() < 0.2 else "")


def consistent_edit(sentence: str, title: str, rng: random.Random) -> str:
    """What `sentence` bears out: itself, its opening clause, itself with its subject said
    as "It", or without a parenthesis or an appositive."""
    words = sentence.split()
    roll = rng.random()
    commas = [i for i, w in enumerate(words) if w.endswith(",") and i >= 5]
    if roll < 0.35:
        return sentence
    if roll < 0.7:
        return " ".join(words[:rng.choice(commas) + 1]).rstrip(",") + "." if commas else sentence
    subject = title.split()
    if roll < 0.85 and words[:len(subject)] == subject and len(words) > len(subject) + 3:
        return "It " + " ".join(words[len(subject):])
    shorter = re.sub(r"\s*\([^)]*\)", "", sentence)
    return shorter if shorter != sentence else re.sub(r", [^,]{3,40}, ", " ", sentence)


def inconsistent_edit(sentence: str, neighbour: str, stranger: str, rng: random.Random) -> str | None:
    """What `sentence` does not bear out, mostly in its own words: two of its content words
    swapped, one replaced by a word of `neighbour` (a sentence of the same article), a number
    changed, a negation flipped, its start joined to `neighbour`'s end; else `stranger`
    (another article's sentence). None when the edit chosen leaves the sentence as it was."""
    words = sentence.split()
    positions = _content_positions(words)
    roll = rng.random()
    if roll < 0.22 and len(positions) >= 4:
        i, j = rng.sample(positions, 2)
        words[i], words[j] = words[j], words[i]
    elif roll < 0.44:
        other = neighbour.split()
        foreign = [other[i].strip(",.;:()") for i in _content_positions(other)
                   if other[i].strip(",.;:()").lower() not in sentence.lower()]
        if not (positions and foreign):
            return None
        i = rng.choice(positions)
        words[i] = rng.choice(foreign) + re.sub(r"^.*?([,.]*)$", r"\1", words[i])
    elif roll < 0.56:
        numbers = [i for i, w in enumerate(words) if re.search(r"\d", w)]
        if not numbers:
            return None
        i = rng.choice(numbers)
        words[i] = re.sub(r"\d", lambda m: str((int(m.group()) + rng.randint(1, 9)) % 10), words[i], count=1)
    elif roll < 0.68:
        verbs = [i for i, w in enumerate(words) if w in _NEGATED or w == "not"]
        if not verbs:
            return None
        i = verbs[0]
        if words[i] == "not":
            del words[i]
        else:
            words[i] = _NEGATED[words[i]]
    elif roll < 0.86:
        other = neighbour.split()
        if len(words) < 6 or len(other) < 6:
            return None
        words = words[:rng.randint(3, len(words) // 2 + 1)] + other[rng.randint(len(other) // 3, len(other) - 3):]
    else:
        return stranger
    edited = " ".join(words)
    return None if edited == sentence else edited


def synthetic_pairs(articles, n: int, seed: int = 0) -> list[dict]:
    """`n` {knowledge, response, label} pairs (label 1: inconsistent), half of each, from
    `articles` (objects with `title` and `sentences`, three sentences or more). The
    knowledge is the edited sentence, with a neighbour half the time (the one a blend or a
    foreign word came from, so its words are in the knowledge but not in that relation)."""
    rng = random.Random(seed)
    articles = [a for a in articles if len(a.sentences) >= 3]
    if not articles:
        raise ValueError("synthetic_pairs needs articles of three sentences or more")
    pairs = []
    while len(pairs) < n:
        article = rng.choice(articles)
        i = rng.randrange(len(article.sentences))
        sentence = article.sentences[i]
        if not 6 <= len(sentence.split()) <= 45:
            continue
        j = rng.choice([k for k in range(len(article.sentences)) if k != i])
        label = int(rng.random() < 0.5)
        if label:
            stranger = rng.choice(rng.choice(articles).sentences)
            response = inconsistent_edit(sentence, article.sentences[j], stranger, rng)
            if response is None or response == sentence:
                continue
        else:
            response = consistent_edit(sentence, article.title, rng)
        knowledge = sentence if rng.random() < 0.5 else " ".join(article.sentences[k] for k in sorted((i, j)))
        pairs.append({"knowledge": knowledge, "response": _as_said(response, rng), "label": label})
    return pairs


def evidence(response: str, knowledge) -> str:
    """What the checker reads of `knowledge` (a string or a list of strings, as in
    `metrics`): all of it up to EVIDENCE_WORDS words, else the sentences whose token F1 with
    the response is highest, as many as fit, in their order. A passage of 500 words would
    otherwise be cut at its start, whatever the response says."""
    from collections import Counter

    from rag_dialogue.metrics import _as_text, _f1, _sentences, normalize

    text = _as_text(knowledge)
    if len(text.split()) <= EVIDENCE_WORDS:
        return text
    words = normalize(response or "").split()
    sentences = _sentences(text)
    ranked = sorted(range(len(sentences)), key=lambda i: -_f1(words, Counter(normalize(sentences[i]).split())))
    kept, total = [], 0
    for i in ranked:
        size = len(sentences[i].split())
        if kept and total + size > EVIDENCE_WORDS:
            continue
        kept.append(i)
        total += size
    return " ".join(sentences[i] for i in sorted(kept))


# --- the model -------------------------------------------------------------------------

def _encode(model, tokenizer, knowledge: list[str], responses: list[str]):
    most = min(MAX_TOKENS, model.config.max_position_embeddings)
    return tokenizer(knowledge, responses, truncation="longest_first", max_length=most,
                     padding=True, return_tensors="pt")


def _fine_tune(model, tokenizer, pairs: list[tuple[str, str, int]], epochs: float, lr: float, seed: int,
               desc: str):
    """Train `model` on (knowledge, response, label) with binary cross-entropy: AdamW, a
    linear warm-up over 6% of the steps, then linear decay."""
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    rng = random.Random(seed)
    steps = max(1, math.ceil(len(pairs) * epochs / BATCH))
    order = []
    while len(order) < steps * BATCH:
        shuffled = list(range(len(pairs)))
        rng.shuffle(shuffled)
        order += shuffled
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, round(0.06 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / steps))
    model.train()
    for step in tqdm(range(steps), desc=desc, unit="step", dynamic_ncols=True):
        batch = [pairs[i] for i in order[step * BATCH:(step + 1) * BATCH]]
        logits = model(**_encode(model, tokenizer, [b[0] for b in batch], [b[1] for b in batch])).logits[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.tensor([float(b[2]) for b in batch]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    return model.eval()


def _logits(model, tokenizer, pairs: list[tuple[str, str]], batch: int = 32) -> list[float]:
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            chunk = pairs[i:i + batch]
            out += model(**_encode(model, tokenizer, [k for k, _ in chunk], [r for _, r in chunk])).logits[:, 0].tolist()
    return out


def _labelled_pairs(files) -> tuple[list, list[tuple[str, str, int]]]:
    from rag_dialogue import validate

    examples = []
    for path in files:
        if re.search(r"(?:^|[_.\-])test(?:[_.\-]|$)", Path(path).name, re.IGNORECASE):  # q2_test.jsonl, not contest.jsonl
            raise ValueError(f"{path}: looks like a test split; the checker is fitted on dev labels only")
        examples += validate.read_labelled(path)[0]
    return examples, [(evidence(e.response, e.knowledge), e.response, e.hallucinated) for e in examples]


def _fit_combination(examples, logits) -> dict:
    """Weights of the logistic model of CONSISTENCY_FEATURES and the checker's logit, each
    class weighing the same (so 0.5 is a balanced threshold), in the units of the raw
    features (the standardisation folded in); and, 10-fold cross-validated on the same
    labels, the ROC AUC of the logit alone, of the lexical features alone and of both."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rag_dialogue import metrics
    from rag_dialogue.validate import roc_auc

    names = list(metrics.CONSISTENCY_FEATURES)
    features = [metrics.hallucination_features(e.response, e.knowledge, e.history) for e in examples]
    x = np.array([[f[n] for n in names] + [z] for f, z in zip(features, logits)])
    y = np.array([e.hallucinated for e in examples])

    def model():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))

    folds = StratifiedKFold(n_splits=min(10, int(np.bincount(y, minlength=2).min())), shuffle=True, random_state=0)
    agreement = {"checker_logit_out_of_fold": roc_auc(y, x[:, -1])}
    for name, columns in (("lexical_cross_validated", slice(0, -1)), ("combined_cross_validated", slice(None))):
        agreement[name] = roc_auc(y, cross_val_predict(model(), x[:, columns], y, cv=folds, method="predict_proba")[:, 1])
    fitted = model().fit(x, y)
    scaler, logistic = fitted.named_steps["standardscaler"], fitted.named_steps["logisticregression"]
    weights = logistic.coef_[0] / scaler.scale_
    bias = float(logistic.intercept_[0] - (weights * scaler.mean_).sum())
    return {"features": names + ["checker_logit"], "weights": [float(w) for w in weights], "bias": bias,
            "roc_auc": agreement}


def train(out, label_files, base: str | None = None, pairs: int = SYNTHETIC_PAIRS, folds: int = FOLDS,
          seed: int = 0) -> dict:
    """Build the checker into `out` (a folder, written atomically): the synthetic stage,
    `folds` fine-tunings on the labels for out-of-fold logits, the combination fitted on
    them, and the final fine-tuning on every label. `base`: a BERT folder
    (default: the packaged all-MiniLM-L6-v2). Returns the combination."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rag_dialogue.paths import default_encoder_path
    from rag_dialogue.tasks.vital_articles.corpus import load_articles
    from rag_dialogue.utils import atomic_path

    examples, labelled = _labelled_pairs(label_files)
    if len(examples) < 2 * folds:
        raise ValueError(f"{len(examples)} labelled responses in {', '.join(map(str, label_files))}: "
                         f"need at least {2 * folds}")
    base = base or default_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    synthetic = [(p["knowledge"], p["response"], p["label"]) for p in synthetic_pairs(load_articles(), pairs, seed)]
    model = _fine_tune(model, tokenizer, synthetic, 1, 4e-5, seed, "checker: synthetic pairs")
    synthetic_state = {k: v.clone() for k, v in model.state_dict().items()}

    fold_of = [i % folds for i in random.Random(seed).sample(range(len(labelled)), len(labelled))]
    out_of_fold = [0.0] * len(labelled)
    for k in range(folds):
        model.load_state_dict(synthetic_state)
        _fine_tune(model, tokenizer, [p for p, f in zip(labelled, fold_of) if f != k], LABEL_EPOCHS, 2e-5,
                   seed + 1 + k, f"checker: labels, fold {k + 1}/{folds}")
        held = [i for i, f in enumerate(fold_of) if f == k]
        for i, z in zip(held, _logits(model, tokenizer, [labelled[i][:2] for i in held])):
            out_of_fold[i] = z
    combination = _fit_combination(examples, out_of_fold)

    model.load_state_dict(synthetic_state)
    _fine_tune(model, tokenizer, labelled, LABEL_EPOCHS, 2e-5, seed, "checker: labels, all")
    with atomic_path(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        record = {**combination, "label_files": [str(p) for p in label_files], "labelled": len(examples),
                  "synthetic_pairs": pairs, "folds": folds, "seed": seed}
        (Path(tmp) / COMBINATION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return combination


class Checker:
    """A checker folder loaded: `logit` of one (knowledge, response), cached, and `score`,
    its logit combined with the lexical evidence."""

    def __init__(self, folder):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = Path(folder)
        combination = folder / COMBINATION_FILE
        if not combination.is_file():
            raise FileNotFoundError(f"{folder}: no checker here (no {COMBINATION_FILE}); "
                                    "build one with `rag-dialogue metrics train-checker --out DIR`")
        self.combination = json.loads(combination.read_text(encoding="utf-8"))
        self._weights = dict(zip(self.combination["features"], self.combination["weights"]))
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
        self._cache = {}

    def logit(self, response: str, knowledge) -> float:
        """The checker's logit for `response` against `evidence(response, knowledge)`."""
        key = (evidence(response, knowledge), response or "")
        if key not in self._cache:
            self._cache[key] = _logits(self.model, self.tokenizer, [key])[0]
        return self._cache[key]

    def read(self, pairs) -> None:
        """Compute the logits of many (response, knowledge) pairs in batches (much faster than
        one by one); `logit` then finds them."""
        keys = list(dict.fromkeys((evidence(r, k), r or "") for r, k in pairs))
        keys = [key for key in keys if key not in self._cache]
        self._cache.update(zip(keys, _logits(self.model, self.tokenizer, keys)))

    def score(self, response: str, knowledge, history) -> float:
        """How likely `response` is inconsistent with `knowledge`, in (0, 1): the combination's
        logistic model, lifted past 0.5 as `inconsistency_score` is (babble, an unsupported
        quantity)."""
        from rag_dialogue import metrics

        return self._from_features(metrics.hallucination_features(response, knowledge, history), response, knowledge)

    def is_inconsistent(self, response: str, knowledge, history) -> bool:
        """`metrics.is_inconsistent`'s decision with `score` in place of inconsistency_score."""
        from rag_dialogue import metrics

        features = metrics.hallucination_features(response, knowledge, history)
        score = self._from_features(features, response, knowledge)
        return metrics._category(response, history, score, bool(features["degenerate"]),
                                 metrics.INCONSISTENT_ABOVE) == "hallucinated"

    def _from_features(self, features: dict, response: str, knowledge) -> float:
        from rag_dialogue import metrics

        values = dict(features, checker_logit=self.logit(response, knowledge))
        return metrics.inconsistency_from_features(values, self._weights, self.combination["bias"])
