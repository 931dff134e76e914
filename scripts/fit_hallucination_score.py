"""Fit the weights of `rag_dialogue.metrics.hallucination_score` (or, with `--model
consistency`, of `inconsistency_score`) on labelled responses.

    python scripts/fit_hallucination_score.py FILE[+FILE...] ... [--folds 10] [--report TEST ...]
                                              [--model hallucination|consistency]

FILEs are labelled responses as `rag-dialogue metrics validate` reads them; files joined
with "+" count as one set, one kind of label. Each set weighs the same in the fit and,
within it, each class (balanced weights), so neither the biggest set nor one set's share
of hallucinations sets the 0.5 threshold. The shipped weights come from the files
`scripts/public_labels.py` writes (in its --out folder L):

    python scripts/fit_hallucination_score.py \
        L/begin_wow_dev.jsonl+L/begin_cmu_dev.jsonl+L/begin_tc_dev.jsonl+tests/data/labelled_responses.jsonl \
        L/q2_dev.jsonl L/faithdial_wow_dev.jsonl+L/faithdial_cmu_dev.jsonl+L/faithdial_tc_dev.jsonl \
        --report L/begin_wow_test.jsonl L/q2_test.jsonl L/q2x_test.jsonl L/dialfact_test.jsonl \
                 L/faithdial_wow_test.jsonl+L/faithdial_cmu_test.jsonl+L/faithdial_tc_test.jsonl

and those of the inconsistency score from the factual-consistency dev files alone:

    python scripts/fit_hallucination_score.py L/q2_dev.jsonl+L/q2x_dev.jsonl --model consistency \
        --report L/q2_test.jsonl L/q2x_test.jsonl L/dialfact_test.jsonl L/begin_wow_test.jsonl \
                 L/faithdial_wow_test.jsonl+L/faithdial_cmu_test.jsonl+L/faithdial_tc_test.jsonl

Prints, per set, the ROC AUC and balanced accuracy of `is_hallucinated` with the model
cross-validated (folds within each set), next to the token-F1 baseline, then the weights
to paste into metrics.py. `--report` files (held-out portions) are scored with the weights
fitted on the FILEs only. Fit on development data only, never on a test set.
"""

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression

from rag_dialogue import metrics, validate


# per model: its features, constants' prefix, and the features that lift its score past 0.5
MODELS = {
    "hallucination": (metrics.SCORE_FEATURES, "SCORE", ("unsupported_number", "unsupported_name", "degenerate")),
    "consistency": (metrics.CONSISTENCY_FEATURES, "CONSISTENCY", ("degenerate", "unsupported_quantity")),
}
LIFTS = MODELS["hallucination"][2]


def lifted(features: dict, p: float) -> float:
    """The score as `metrics.score_from_features` (or `inconsistency_from_features`) makes it
    from the model's probability."""
    return metrics._lifted(p) if any(features[name] for name in LIFTS) else p


class Labelled:
    """One file's features, labels, categories and baseline scores."""

    def __init__(self, path, names):
        parts = [validate.read_labelled(part)[0] for part in path.split("+")]
        examples = [e for part in parts for e in part]
        self.parts = list(zip(path.split("+"), np.cumsum([0] + [len(p) for p in parts])))
        self.path = path
        self.features = [metrics.hallucination_features(e.response, e.knowledge, e.history) for e in examples]
        self.x = np.array([[f[n] for n in names] for f in self.features])
        self.y = np.array([e.hallucinated for e in examples])
        # the category before the score: degenerate and no_claim replies are never hallucinated
        self.claims = np.array([metrics._category(e.response, e.history, 0.0) == "faithful" for e in examples])
        self.baseline = np.array([validate.token_f1_score(e) for e in examples])
        positives = max(self.y.sum(), 1)
        negatives = max(len(self.y) - self.y.sum(), 1)
        self.weights = np.where(self.y == 1, 0.5 / positives, 0.5 / negatives)

    def report(self, p) -> str:
        """One line for the set, and one for each of its files when it joins several."""
        lines = [self._line(self.path, slice(None), p)]
        if len(self.parts) > 2:
            lines += ["    " + self._line(name, slice(start, end), p)
                      for (name, start), (_, end) in zip(self.parts, self.parts[1:] + [(None, len(self.y))])]
        return "\n  ".join(lines)

    def _line(self, path, rows, p) -> str:
        features, p, y = self.features[rows], p[rows], self.y[rows]
        scores = [lifted(f, q) for f, q in zip(features, p)]
        decisions = self.claims[rows] & (np.array(scores) >= 0.5)  # HALLUCINATED_ABOVE, INCONSISTENT_ABOVE
        return (f"{path}: n {len(y)}, {y.sum()} hallucinated | AUC {validate.roc_auc(y, scores):.3f}"
                f" | bal. acc. {validate.balanced_accuracy(y, decisions):.3f}"
                f" | token-F1 baseline AUC {validate.roc_auc(y, self.baseline[rows]):.3f}")


def fit(sets, c):
    x = np.vstack([s.x for s in sets])
    y = np.concatenate([s.y for s in sets])
    w = np.concatenate([s.weights for s in sets])
    # Standardise for the fit (so C treats features alike), then fold the scaling into the weights.
    mean, std = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / std, y, sample_weight=w * len(y) / len(sets))
    weights = model.coef_[0] / std
    bias = model.intercept_[0] - (model.coef_[0] * mean / std).sum()
    return weights, bias


def predict(weights, bias, x):
    return 1.0 / (1.0 + np.exp(-(x @ weights + bias)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--report", nargs="*", default=[], help="held-out files, scored with the final weights")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic model")
    parser.add_argument("--model", choices=sorted(MODELS), default="hallucination",
                        help="hallucination_score (default) or inconsistency_score")
    parser.add_argument("--features", default=None,
                        help="comma-separated names of metrics.hallucination_features to fit on "
                        "(default: the model's current ones)")
    args = parser.parse_args()

    global LIFTS
    default_names, prefix, LIFTS = MODELS[args.model]
    names = args.features.split(",") if args.features else list(default_names)
    sets = [Labelled(path, names) for path in args.files]
    for s in sets:
        print(f"{s.path}: {len(s.y)} responses, {s.y.sum()} hallucinated; AUC alone: "
              + ", ".join(f"{n} {validate.roc_auc(s.y, s.x[:, i]):.3f}" for i, n in enumerate(names)))

    rng = np.random.RandomState(0)
    folds = [rng.permutation(len(s.y)) % args.folds for s in sets]
    predictions = [np.zeros(len(s.y)) for s in sets]
    for k in range(args.folds):
        train = []
        for s, fold in zip(sets, folds):
            part = Labelled.__new__(Labelled)
            part.x, part.y, part.weights = s.x[fold != k], s.y[fold != k], s.weights[fold != k]
            train.append(part)
        weights, bias = fit(train, args.c)
        for s, fold, p in zip(sets, folds, predictions):
            p[fold == k] = predict(weights, bias, s.x[fold == k])
    print(f"\ncross-validated ({args.folds} folds within each set):")
    for s, p in zip(sets, predictions):
        print("  " + s.report(p))

    weights, bias = fit(sets, args.c)
    if args.report:
        print("\nheld out (weights fitted on all FILEs):")
        for path in args.report:
            s = Labelled(path, names)
            print("  " + s.report(predict(weights, bias, s.x)))
    print(f"\n{prefix}_FEATURES = (" + ", ".join(f'"{n}"' for n in names) + ")")
    print(f"{prefix}_WEIGHTS = {{")
    for name, w in zip(names, weights):
        print(f'    "{name}": {w:.4f},')
    print("}")
    print(f"{prefix}_BIAS = {bias:.4f}")


if __name__ == "__main__":
    main()
