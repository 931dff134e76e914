"""Replies held to their passages: numbers and names, against the decoding before them.

Evaluates one trained model several ways on the same examples of each split, through the
experiment's own `evaluate` (ParlAI's eval_model, the teacher's measures):

  before    n-gram blocking over every token, numbers free, dense retrieval alone
  spared    n-gram blocking lets a number go on as it must
            (`grounded_numbers.spare_numbers_from_ngram_blocking`)
  numbers   spared, and each passage's row states only numbers that its passage or the
            dialogue holds (`--numbers-from-passages`)
  names     numbers, and passages that hold the names the message mentions rank higher
            and weigh more (`--retrieval-names`)
  int8      names, generating with int8 weights (`--int8-inference`, the chat's default):
            what the faster decoding costs in the measures
  topics    int8, and retrieval ranks by the message's rarer lowercase words too
            ("octopus"), as it does by names
  titles    topics, and a passage titled with a word or name of the message ranks above
            one that only mentions it; everyday words count only that way ("elephant"
            for the article Elephant) (`abstain.retrieval_names`, `abstain.names_held`)
  subjects  titles, and a follow-up that names nothing or points back ("Which continents
            border it?") ranks by the names of the speaker's turn before too
            (`abstain.conversation_names`)
  asked     subjects, and a message that asks for a number ("How tall is ...?") whose
            passages about what it names state one is searched with two hypotheses and
            no sentence of its reply ends before a number (`--answer-asked-number`)
  capitals  asked, and each passage's row writes a word with a capital inside a sentence
            (a name) only on the way to one that its passage or the dialogue writes so
            (`--names-from-passages`)
  topic     capitals, and a passage whose title the dialogue's first turn (Wizard of
            Wikipedia's chosen topic; a chat's first message) holds ranks higher and
            weighs more (`--retrieval-topic`): the defaults now
  general   subjects, the int8 steps through transformers' own forward rather than
            `decode_step` (which every int8 way above uses): the leaner step gives the same
            sums, so the same replies

Ways before `topics` rank by the names alone (`abstain.named_terms`).

and prints per split and way the measures, the replies that state a number, of those that
state one no passage or dialogue turn holds, the messages that ask for a number and how
many of their replies state one, and the replies that write a name their passages and the dialogue do not hold, and the
seconds, with each way's ratio to the first way. Replies are saved beside the model (`MODEL.bench_grounding.WAY.SPLIT.jsonl`)
to be read. Develop on valid splits: test splits are for reporting.

    .venv/bin/python bench/bench_grounding.py -mf runs/full/rag_token/model \\
        [--splits valid_unseen,valid_wow] [--examples 32] [--ways asked,capitals] [--recount]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import json
import platform
import time
from pathlib import Path

from rag_dialogue import abstain, decode_step, grounded_names, grounded_numbers, progress
from rag_dialogue import agent as agent_module
from rag_dialogue.experiment import evaluate
from rag_dialogue.retrieval import retriever

SHOWN = ("f1", "kf1", "faithful_rate", "hallucination_rate", "degenerate_rate", "read_out_rate")


def _numbers_in_replies(log_file: Path) -> tuple:
    """(replies stating a number, replies stating one that neither their passages nor the
    dialogue so far hold, messages asking for a number, their replies stating one, replies
    writing a name that neither holds), from a world log. The dialogue is what the model
    read: each turn's message and the gold replies before it (ParlAI's history)."""
    stating = unheld = asking = answered = unheld_names = 0
    for line in log_file.read_text().splitlines():
        dialogue = []
        for asked, reply in json.loads(line)["dialog"]:
            dialogue.append(asked.get("text", ""))
            stated = grounded_numbers.numbers_in([reply.get("text", "")])
            passages = [f"{d.get('title', '')} {d.get('text', '')}" for d in reply.get("retrieved_docs") or []]
            if grounded_numbers.asks_for_number(asked.get("text", "").split("\n")[-1]):
                asking += 1
                answered += grounded_numbers.states_number(reply.get("text", ""))
            if stated:
                stating += 1
                unheld += bool(stated - grounded_numbers.numbers_in(dialogue + passages))
            unheld_names += bool(grounded_names.unheld_names(reply.get("text", ""), dialogue + passages))
            dialogue.extend(asked.get("eval_labels") or [])
    return stating, unheld, asking, answered, unheld_names


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-mf", "--model-file", required=True)
    parser.add_argument("--splits", default="valid_unseen,valid_wow")
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--n-docs", type=int, default=3, help="passages per reply (the experiment's)")
    parser.add_argument("--ways", default="before,spared,numbers,names,int8,topics",
                        help="which ways, comma-separated (ratios are to the first)")
    parser.add_argument("--recount", action="store_true",
                        help="only count the numbers of the replies a run saved (no evaluation; "
                        "`rag-dialogue metrics score` re-scores the same files)")
    args = parser.parse_args()
    if args.recount:
        for log in sorted(Path(args.model_file).parent.glob(Path(args.model_file).name + ".bench_grounding.*.jsonl")):
            print(f"{log.name}: replies stating a number / one unheld / messages asking for one / "
                  "their replies stating one / replies writing an unheld name: %d / %d / %d / %d / %d"
                  % _numbers_in_replies(log))
        return

    opt = json.loads(Path(args.model_file + ".opt").read_text())
    base = {k: opt[k] for k in ("task", "datapath", "index_dir", "eval_batchsize", "batchsize", "inference",
                                "beam_block_ngram", "beam_min_length", "beam_size") if opt.get(k) is not None}
    spare = grounded_numbers.spare_numbers_from_ngram_blocking
    all_words, with_follow_ups, held = abstain.retrieval_names, abstain.conversation_names, retriever.names_held
    lean = decode_step.supports

    def rare_words_too(message):  # retrieval_names without the everyday words
        return [n for n in all_words(message) if not (n.islower() and abstain._is_common(n))]

    def held_anywhere(names, title, text):  # names_held without the title preferred
        runs = (abstain._stems(title), abstain._stems(text))
        return float(sum(abstain._holds(name, runs) for name in names))

    ranked_by = {"names": abstain.named_terms, "rare": rare_words_too, "all": all_words}
    # numbers spared from n-gram blocking, numbers from passages, retrieval ranks by names,
    # int8 (True, or "general": through transformers' forward), which words name (ranked_by),
    # titles preferred, follow-ups keep the topic, a number asked for awaited, names from
    # passages, the dialogue's first turn ranks its titles
    keys = ("spared", "grounded", "named", "int8", "words", "titles", "follow", "asked", "capitals", "topic")
    ways = {"before": (False, False, False, False, "names", False, False, False, False, False),
            "spared": (True, False, False, False, "names", False, False, False, False, False),
            "numbers": (True, True, False, False, "names", False, False, False, False, False),
            "names": (True, True, True, False, "names", False, False, False, False, False),
            "int8": (True, True, True, True, "names", False, False, False, False, False),
            "topics": (True, True, True, True, "rare", False, False, False, False, False),
            "titles": (True, True, True, True, "all", True, False, False, False, False),
            "subjects": (True, True, True, True, "all", True, True, False, False, False),
            "asked": (True, True, True, True, "all", True, True, True, False, False),
            "capitals": (True, True, True, True, "all", True, True, True, True, False),
            "topic": (True, True, True, True, "all", True, True, True, True, True),
            "general": (True, True, True, "general", "all", True, True, False, False, False)}
    ways = {way: dict(zip(keys, flags)) for way, flags in ways.items()}
    unknown = set(args.ways.split(",")) - set(ways)
    if unknown:
        parser.error(f"--ways: no way named {', '.join(sorted(unknown))} (the ways: {', '.join(ways)})")
    ways = {way: ways[way] for way in args.ways.split(",")}
    print(f"{platform.machine()} {platform.processor() or ''}, model {args.model_file}, "
          f"{args.examples} examples a split, {args.n_docs} passages; ParlAI's log in "
          f"{args.model_file}.bench_grounding.log", flush=True)
    for split in args.splits.split(","):
        rows = {}
        for way, w in ways.items():
            agent_module.spare_numbers_from_ngram_blocking = spare if w["spared"] else (lambda tree, digits: None)
            abstain.retrieval_names = ranked_by[w["words"]]
            abstain.conversation_names = with_follow_ups if w["follow"] else \
                (lambda message, turns: abstain.retrieval_names(message))
            retriever.names_held = held if w["titles"] else held_anywhere
            decode_step.supports = lean if w["int8"] is True else (lambda generator: False)
            log = Path(f"{args.model_file}.bench_grounding.{way}.{split}.jsonl")
            start = time.perf_counter()
            with progress.logs_to(f"{args.model_file}.bench_grounding.log"):
                got = evaluate(Path(args.model_file), base,
                               {"va_split": split, "datatype": split.split("_")[0], "n_docs": args.n_docs,
                                "numbers_from_passages": w["grounded"], "retrieval_names": w["named"],
                                "int8_inference": bool(w["int8"]), "answer_asked_number": w["asked"],
                                "names_from_passages": w["capitals"], "retrieval_topic": w["topic"]},
                               args.examples, log_file=log)
            got["seconds"] = time.perf_counter() - start
            (got["with_number"], got["unheld_number"], got["asking"], got["answered"],
             got["unheld_name"]) = _numbers_in_replies(log)
            rows[way] = got
        agent_module.spare_numbers_from_ngram_blocking = spare
        abstain.retrieval_names, abstain.conversation_names, retriever.names_held = all_words, with_follow_ups, held
        decode_step.supports = lean
        print(f"\n{split}")
        print(f"{'way':10}" + "".join(f"{k:>20}" for k in SHOWN) + f"{'numbers/unheld':>16}{'asked/answered':>16}{'unheld names':>14}{'s':>8}{'ratio':>7}")
        first = next(iter(rows.values()))
        for way, got in rows.items():
            print(f"{way:10}" + "".join(f"{got.get(k, float('nan')):20.3f}" for k in SHOWN)
                  + f"{got['with_number']:>10}/{got['unheld_number']:<5}{got['asking']:>10}/{got['answered']:<5}"
                  + f"{got['unheld_name']:>14}"
                  + f"{got['seconds']:8.1f}"
                  + f"{got['seconds'] / first['seconds']:7.2f}", flush=True)


if __name__ == "__main__":
    main()
