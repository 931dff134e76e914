"""Fit the weights of `rag_dialogue.metrics.hallucination_score` on labelled responses.

    python scripts/fit_hallucination_score.py FILE [FILE ...] [--folds 10]

FILEs are labelled responses as `rag-dialogue metrics validate` reads them (for
development: the Wizard of Wikipedia dev set of the BEGIN benchmark, `begin_dev_wow.tsv`,
and the labels in tests/data). Prints the cross-validated ROC AUC and balanced accuracy of
the logistic model next to each feature alone, then the weights to paste into metrics.py.
Fit on development data only, never on a test set.
"""

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from rag_dialogue import metrics, validate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic model")
    parser.add_argument("--features", default=",".join(metrics.SCORE_FEATURES),
                        help="comma-separated subset of metrics.SCORE_FEATURES to fit on")
    args = parser.parse_args()

    examples = [e for path in args.files for e in validate.read_labelled(path)[0]]
    names = args.features.split(",")
    x = np.array([[metrics.hallucination_features(e.response, e.knowledge, e.history)[n] for n in names]
                  for e in examples])
    y = np.array([e.hallucinated for e in examples])
    print(f"{len(y)} responses, {y.sum()} hallucinated")
    for i, name in enumerate(names):
        print(f"  {name:26s} AUC alone {validate.roc_auc(y, x[:, i]):.3f}")

    # Standardise for the fit (so C treats features alike), then fold the scaling into the weights.
    mean, std = x.mean(0), x.std(0) + 1e-9
    # Balanced class weights: the 0.5 threshold then does not lean on this data's share of
    # hallucinations, which differs between data sets.
    model = LogisticRegression(C=args.c, max_iter=1000, class_weight="balanced")
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    p = cross_val_predict(model, (x - mean) / std, y, cv=folds, method="predict_proba")[:, 1]
    print(f"cross-validated ({args.folds} folds): AUC {validate.roc_auc(y, p):.3f}, "
          f"balanced accuracy {validate.balanced_accuracy(y, p >= metrics.HALLUCINATED_ABOVE):.3f}")
    model.fit((x - mean) / std, y)
    weights = model.coef_[0] / std
    bias = model.intercept_[0] - (model.coef_[0] * mean / std).sum()
    print("SCORE_WEIGHTS = {")
    for name, w in zip(names, weights):
        print(f'    "{name}": {w:.4f},')
    print("}")
    print(f"SCORE_BIAS = {bias:.4f}")


if __name__ == "__main__":
    main()
