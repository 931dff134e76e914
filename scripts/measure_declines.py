"""How often the agent's "I don't know" rule declines, both ways, on held-out questions.

The rules (`rag_dialogue/abstain.py`: names no passage holds, and words no tokenizer knows
("glimmerfox") that no passage holds, `unsupported_question`; a number asked for that no passage states, `unanswered_number`) look only at the message and
the passages retrieved for it, so it is measured here without a generator: each question is retrieved for as the
agent retrieves (the packaged query encoder, 5 passages, the question alone as the
conversation, passages of the names it mentions first), and the rule decides. Two kinds of questions:

  answerable    the index holds the answer; a decline is wrong
                - "What can you tell me about TITLE?" / "When was TITLE ...": 200 articles
                  of the experiment index that no model trains on (test unseen)
                - the made-up articles' questions, with the made-up articles in the index
                - real apprentice questions (a "?" turn) of WoW test seen whose wizard used a
                  checked sentence, with the WoW test-seen knowledge as the index
  unanswerable  the index lacks it; an answer is a made-up one
                - the same two templates about 200 articles of the packaged corpus that the
                  experiment index leaves out (their names may still occur in other passages)
                - the made-up articles' questions without the made-up articles
                - questions about invented things (INVENTED below)

    .venv/bin/python scripts/measure_declines.py [--n 200]

Needs the embedded dataset and indexes (`rag-dialogue data build`; `make demo` builds them).
"""

import argparse
import json
import random
from pathlib import Path

import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
from rag_dialogue import abstain, madeup
from rag_dialogue.paths import home
from rag_dialogue.retrieval.retriever import Retriever, search_fresh

INVENTED = [
    "Who wrote the opera The Glass Ferry?", "What is the capital of Zubrovia?",
    "When was the Blorvian Empire founded?", "How tall is Mount Quellarin?",
    "Who painted The Orchard at Velmstad?", "What does the Tarnwick Institute study?",
    "Where is Lake Ossenmoor?", "Who founded the Kelvaro Dynasty?",
    "What language is spoken in Drennavia?", "When did the Battle of Harrowgate Fen take place?",
    "What is a quorble used for?", "Who invented the Pellinger engine?",
    "How long is the Varnish River?", "What instrument did Aldo Fenwright play?",
    "What is the population of Sastrow Bay?", "Who won the 1987 Elskar Prize?",
    "What is Brennick's theorem about?", "Where was Tovald Marsh born?",
    "What team does Ilsa Kavanagh-Droste play for?", "When was the Ostmere Canal built?",
]
TEMPLATES = ("What can you tell me about {t}?", "When was {t} first known, and where?")


def vocabulary(retriever):
    """The agent's vocabulary check: the generator's tokenizer (the packaged SmolLM2's)
    and the query encoder's."""
    from transformers import AutoTokenizer

    from rag_dialogue.generator import default_generator_dir

    generator = AutoTokenizer.from_pretrained(default_generator_dir())
    return abstain.tokenizer_vocabulary(generator, retriever.query_encoder.tokenizer)


def decisions(retriever, questions, is_word, k=5):
    """Each rule's decision (True = declines) for each question: (names missing from the
    passages; that or a word no vocabulary knows missing; either or a number asked for that
    no passage states: the agent's default)."""
    emb = retriever.query_encoder.encode(questions, truncate_left=True)
    # as the agent searches: passages of what a question names (or its rarer words) rank higher
    rows, _ = search_fresh(retriever, emb, k, names=[abstain.retrieval_names(q) for q in questions])
    out = []
    for question, row in zip(questions, rows):
        passages = [(retriever.store[int(r)].title, retriever.store[int(r)].text) for r in row if r >= 0]
        names = abstain.unsupported_question(question, passages) is not None
        words = abstain.unsupported_question(question, passages, is_word) is not None
        out.append((names, words, words or abstain.unanswered_number(question, passages) is not None))
    return out


def article_questions(titles):
    return [template.format(t=t) for t in titles for template in TEMPLATES]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="articles of each kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", action="store_true", help="print the questions declined for the number they ask")
    args = ap.parse_args()
    from rag_dialogue.tasks.vital_articles import build as va
    from rag_dialogue.tasks.vital_articles import corpus

    datapath, indexes = home() / "data", home() / "indexes"
    rng = random.Random(args.seed)
    index_titles = {json.loads(line)["title"] for line in va.passages_file(datapath).read_text().splitlines()}
    unseen = sorted({e["chosen_topic"] for e in json.loads(va.split_file(datapath, "test_unseen").read_text())})
    absent = sorted(a.title for a in corpus.load_articles() if a.title not in index_titles)
    experiment = Retriever(indexes / "vital_articles")
    madeup_index = madeup.build_index(indexes / "vital_articles", Path("runs") / "declines.madeup_index")
    wow = Retriever(indexes / "vital_articles_wow_test")
    madeup_questions = [q for a in madeup.ARTICLES for q, _ in a["questions"]]
    wow_questions = []
    for episode in json.loads(va.split_file(datapath, "test_wow").read_text()):
        for apprentice, wizard in zip(episode["dialog"][::2], episode["dialog"][1::2]):
            if "?" in apprentice["text"] and wizard.get("checked_sentence"):
                wow_questions.append(apprentice["text"])
    rows = [
        ("answerable", "articles in the index (test unseen)", experiment,
         article_questions(rng.sample(unseen, min(args.n, len(unseen))))),
        ("answerable", "made-up articles, in the index", Retriever(madeup_index), madeup_questions),
        ("answerable", "real WoW test-seen questions, their knowledge as the index", wow,
         rng.sample(wow_questions, min(args.n, len(wow_questions)))),
        ("unanswerable", "corpus articles left out of the index", experiment,
         article_questions(rng.sample(absent, min(args.n, len(absent))))),
        ("unanswerable", "made-up articles, not in the index", experiment, madeup_questions),
        ("unanswerable", "invented things", experiment, INVENTED),
    ]
    is_word = vocabulary(experiment)
    print("| questions | kind | n | declined: names | and unknown words | and numbers asked for (the default) |\n"
          "|---|---|---:|---:|---:|---:|")
    for kind, name, retriever, questions in rows:
        declined = decisions(retriever, questions, is_word)
        if args.show:
            for question, (names, words, every) in zip(questions, declined):
                if words and not names:
                    print(f"  declined for a word no vocabulary knows: {question}")
                if every and not words:
                    print(f"  declined for its number: {question}")
        names, words, every = (sum(d[i] for d in declined) / len(declined) for i in (0, 1, 2))
        print(f"| {name} | {kind} | {len(questions)} | {names:.3f} | {words:.3f} | {every:.3f} |", flush=True)


if __name__ == "__main__":
    main()
