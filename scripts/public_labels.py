"""Write the public human labels the hallucination score is fitted and checked on, as labelled
files `rag-dialogue metrics validate` and `scripts/fit_hallucination_score.py` read.

    python scripts/public_labels.py --out DIR [--begin BEGIN-dataset] [--q2 q-squared]
                                    [--faithdial FaithDial] [--dialfact DialFact]

Each option is a clone of the public repository (google/BEGIN-dataset, orhonovich/q-squared,
McGill-NLP/FaithDial, salesforce/DialFact). Writes, one JSONL file per set (`knowledge`,
`history`, `response`, `label` 1 = hallucinated, `system`):

  attribution   begin_{wow,cmu,tc}_dev (BEGIN's dev sets; 1 = not fully attributable;
                generic rows left out), begin_wow_test (held out: reporting only)
  consistency   q2_dev, q2_test: Q²'s 600 WoW responses (1 = inconsistent), halved by
                conversation (md5 of "q2" + episode_idx even: dev); q2x_dev, q2x_test: the
                responses of Q²'s cross-annotation file (both systems' replies to 544 of
                those turns) that are not among the 600, halved the same way, so a
                conversation's replies all fall in one half; dialfact_test: DialFact's
                test sample of factual claims (1 = REFUTES or NOT ENOUGH INFO; reporting only)
  mixed         faithdial_{wow,cmu,tc}_{dev,test}: FaithDial's audit of gold and model
                responses (1 = hallucination or partial hallucination; generic and
                uncooperative-only rows left out), halved by knowledge (md5 of "fd" + lowercased
                knowledge even: dev)

Fit on the dev files only; the test files are for reporting.
"""

import argparse
import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path


def half(key: str) -> str:
    return "dev" if int(hashlib.md5(key.encode()).hexdigest(), 16) % 2 == 0 else "test"


def read_csv(path, **kwargs):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, **kwargs))


def begin(root: Path, out):
    for name, path in [("begin_wow_dev", "wow/begin_dev_wow.tsv"), ("begin_cmu_dev", "cmu-dog/begin_dev_cmu.tsv"),
                       ("begin_tc_dev", "topicalchat/begin_dev_tc.tsv"), ("begin_wow_test", "wow/begin_test_wow.tsv")]:
        if not (root / path).is_file():
            print(f"skipped: {root / path} is missing")
            continue
        for r in read_csv(root / path, delimiter="\t", quoting=csv.QUOTE_NONE):
            label = r["begin_label"].strip().lower()
            if label != "generic":
                out[name].append({"knowledge": r["knowledge"], "history": r["message"], "response": r["response"],
                                  "label": int(label == "not fully attributable"), "system": r["model_name"]})


def q2(root: Path, out):
    seen = set()
    for system in ("dodeca", "memnet"):
        for kind in ("consistent", "inconsistent"):
            for r in read_csv(root / "third_party" / "data" / f"{system}_{kind}.csv"):
                out["q2_" + half("q2" + r["episode_idx"])].append({
                    "knowledge": r["knowledge"], "history": r["message"], "response": r["response"],
                    "label": int(kind == "inconsistent"), "system": system})
                seen.add((system, r["episode_idx"], r["response"].strip()))
    for r in read_csv(root / "third_party" / "data" / "cross_annotation.csv"):
        for system in ("dodeca", "memnet"):
            if (system, r["episode_idx"], r[f"{system}_response"].strip()) in seen:  # labelled alike in both files
                continue
            out["q2x_" + half("q2" + r["episode_idx"])].append({
                "knowledge": r["knowledge"], "history": r["message"], "response": r[f"{system}_response"],
                "label": int(r[f"{system}_label"]), "system": system})


def dialfact(root: Path, out):
    for line in (root / "scripts" / "testsmall.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["type_label"] != "factual":  # personal claims are not checkable against evidence
            continue
        out["dialfact_test"].append({
            "knowledge": "\n".join(e[2] for e in r["evidence_list"]), "history": "\n".join(r["context"]),
            "response": r["response"], "label": int(r["response_label"] != "SUPPORTS"), "system": r["data_type"]})


FAITHDIAL = {"wow": ("gold/wow.csv", "GPT2/gpt2_processed_wow.csv", "DoHA/doha_processed_wow.csv",
                     "CTRL/ctrl_processed_wow.csv"),
             "cmu": ("gold/cmu.csv", "GPT2/gpt2_processed_cmu.csv", "DoHA/doha_processed_cmu.csv",
                     "CTRL/ctrl_processed_cmu.csv"),
             "tc": ("gold/topical.csv", "GPT2/gpt2_processed_topical.csv", "DoHA/doha_processed_topical.csv",
                    "CTRL/ctrl_processed_topicalchat.csv")}


def faithdial(root: Path, out):
    for data, paths in FAITHDIAL.items():
        for system, path in zip(("gold", "gpt2", "doha", "ctrl"), paths):
            for r in read_csv(root / "data-audit" / path):
                label = (r.get("BEGIN") or r.get("begin_label") or "").strip().lower()
                response = r.get("response") or r.get(system) or ""
                knowledge = r.get("evidence") or r.get("knowledge") or ""
                if not label or "generic" in label or label == "uncooperative" or not response.strip():
                    continue
                out[f"faithdial_{data}_" + half("fd" + knowledge.strip().lower())].append({
                    "knowledge": knowledge, "history": r["history"], "response": response,
                    "label": int("hallucination" in label), "system": system})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    for name in ("begin", "q2", "faithdial", "dialfact"):
        parser.add_argument(f"--{name}", type=Path, default=None, help="a clone of its repository")
    args = parser.parse_args()
    out = defaultdict(list)
    for name, read in (("begin", begin), ("q2", q2), ("faithdial", faithdial), ("dialfact", dialfact)):
        if getattr(args, name):
            read(getattr(args, name), out)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name, rows in sorted(out.items()):
        with open(Path(args.out) / f"{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"{name}: {len(rows)} responses, {sum(r['label'] for r in rows)} hallucinated")


if __name__ == "__main__":
    main()
