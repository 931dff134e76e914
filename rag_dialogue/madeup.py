"""Facts no pretrained model can know: made-up articles added to an index, then asked about.

A model that answers from its index states the invented fact; one that answers from
its weights cannot. `rag-dialogue madeup` (and the demo's last stage) builds the
original index plus the made-up articles (only the new passages are encoded), swaps
it into a trained model without retraining, asks each article's questions (about facts
beyond its first sentence), each in a new conversation, and counts the answers that
state the fact asked.
"""

import json
from pathlib import Path

# Invented places, people and things. Each article has several sentences, and its
# questions ask for facts beyond its first sentence (a model that reads out the opening
# sentence does not answer them); each answer is in its article only.
ARTICLES = [
    {"title": "Velmoran Lighthouse",
     "text": ["The Velmoran Lighthouse is a stone lighthouse on the island of Quessary.",
              "It is 87 metres tall and was completed in 1794.",
              "Its lamp was designed by the engineer Halvard Brisk."],
     "questions": [("How tall is the Velmoran Lighthouse?", "87 metres"),
                   ("Who designed the lamp of the Velmoran Lighthouse?", "Halvard Brisk")]},
    {"title": "Ostrava Lenn",
     "text": ["Ostrava Lenn was a Tarvish glassmaker who invented the double-blown lantern.",
              "She founded the Lenn workshop in the city of Pellimor in 1841.",
              "Her lanterns were exported to Sorvenna and Kelt."],
     "questions": [("In which city did Ostrava Lenn found her workshop?", "Pellimor"),
                   ("When did Ostrava Lenn found the Lenn workshop?", "1841")]},
    {"title": "Zorblat Sea",
     "text": ["The Zorblat Sea is a small inland sea between Arvenia and Kostrel.",
              "It is 41 kilometres wide at its narrowest point.",
              "Its largest port is the town of Duvessa."],
     "questions": [("How wide is the Zorblat Sea?", "41 kilometres"),
                   ("What is the largest port on the Zorblat Sea?", "Duvessa")]},
    {"title": "Quindle (sport)",
     "text": ["Quindle is a team sport played with a wooden hoop and two balls.",
              "Each quindle team has nine players, and a match lasts three periods.",
              "The first quindle club was founded in Harrowby in 1877."],
     "questions": [("How many players are on a quindle team?", "nine"),
                   ("Where was the first quindle club founded?", "Harrowby")]},
    {"title": "Marrowgate Bridge",
     "text": ["The Marrowgate Bridge is a suspension bridge over the river Esk in Dunmarrow.",
              "The bridge opened in 1932 and carries about 20,000 vehicles a day.",
              "Its main span is 412 metres long."],
     "questions": [("When did the Marrowgate Bridge open?", "1932"),
                   ("How long is the main span of the Marrowgate Bridge?", "412 metres")]},
    {"title": "Brillow's syndrome",
     "text": ["Brillow's syndrome is a rare condition of the inner ear.",
              "It is caused by a lack of selenium in early childhood.",
              "It was first described by the physician Anselm Brillow in 1958."],
     "questions": [("What causes Brillow's syndrome?", "selenium"),
                   ("When was Brillow's syndrome first described?", "1958")]},
    {"title": "Tessaly Orchard",
     "text": ["The Tessaly Orchard is a historic orchard in the valley of Amsker.",
              "It is the only orchard that grows blue pears, a variety bred there in 1905.",
              "The orchard covers 35 hectares."],
     "questions": [("What fruit does the Tessaly Orchard grow?", "blue pears"),
                   ("How large is the Tessaly Orchard?", "35 hectares")]},
    {"title": "Kavorian language",
     "text": ["Kavorian is a language isolate spoken in the highlands of Vesh.",
              "About 12,000 people speak Kavorian as their first language.",
              "It is written in an alphabet of 31 letters."],
     "questions": [("How many people speak the Kavorian language?", "12,000"),
                   ("How many letters does the Kavorian alphabet have?", "31")]},
]


def read_articles(path) -> list:
    """Articles of one's own, in the form of `ARTICLES`, from a JSON file (a list) or a
    JSONL file (one article a line): "title", "text" (a list of sentences, or one string)
    and "questions" ([question, fact] pairs; the fact is what a right answer states)."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
        items = json.loads(raw) if raw.lstrip().startswith("[") else [
            json.loads(line) for line in raw.splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a JSON list or JSONL file of articles ({e})") from None
    articles = []
    for n, item in enumerate(items, 1):
        text = item.get("text") if isinstance(item, dict) else None
        text = [text] if isinstance(text, str) else text
        questions = item.get("questions", []) if isinstance(item, dict) else None
        if (not isinstance(item, dict) or not isinstance(item.get("title"), str) or not text
                or not all(isinstance(t, str) and t.strip() for t in text)
                or not isinstance(questions, list)
                or not all(isinstance(q, (list, tuple)) and len(q) == 2 and all(isinstance(x, str) for x in q)
                           for q in questions)):
            raise ValueError(f"{path}: article {n} needs \"title\" (a string), \"text\" (sentences) "
                             f"and \"questions\" ([question, fact] pairs)")
        articles.append({"title": item["title"], "text": text, "questions": [tuple(q) for q in questions]})
    if not articles:
        raise ValueError(f"{path}: no articles")
    return articles


def passages(articles=None) -> list:
    """The made-up articles (default `ARTICLES`) as sentence-level passages, as the
    embedded index holds them."""
    return [{"id": f"madeup:{a['title']}#{i}", "title": a["title"], "text": sentence}
            for a in (articles or ARTICLES) for i, sentence in enumerate(a["text"])]


def build_index(base_index, out_dir, articles=None) -> Path:
    """`base_index` plus the made-up passages (of `articles`, default `ARTICLES`); only
    the new passages are encoded."""
    from rag_dialogue.retrieval.index import DenseIndex
    from rag_dialogue.retrieval.retriever import build_index as build
    from rag_dialogue.utils import write_text_atomic

    base_index, out_dir = Path(base_index), Path(out_dir)
    meta = DenseIndex.read_meta(base_index)
    source = out_dir.with_name(out_dir.name + ".passages.jsonl")
    base_lines = (base_index / "passages.jsonl").read_text(encoding="utf-8")
    write_text_atomic(source, base_lines + "".join(json.dumps(p) + "\n" for p in passages(articles)))
    return build(source, out_dir, encoder_name_or_path=meta["encoder"], pooling=meta["pooling"],
                 show_progress=False, reuse=base_index)


def default_index_dir(model_file) -> Path:
    return Path(f"{model_file}.madeup_index")


_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}


def _digits(text: str) -> str:
    from rag_dialogue.metrics import normalize

    return " ".join(_NUMBER_WORDS.get(w, w) for w in normalize(text).split())


def states(reply: str, fact: str) -> bool:
    """The fact's words occur in the reply as whole words, a small number written either way
    ("9 players" states "nine")."""
    from rag_dialogue.metrics import _contains

    return _contains(_digits(reply), _digits(fact))


def ask(model_file, index_dir, verbose: bool = True, articles=None) -> dict:
    """Each question of `articles` (default `ARTICLES`) in a new conversation; check the
    reply states the fact asked."""
    from rag_dialogue.chat import load_agent

    agent, _ = load_agent(model_file, index_dir)
    exchanges = []
    for article in articles or ARTICLES:
        for question, fact in article["questions"]:
            agent.reset()
            agent.observe({"text": question, "episode_done": False})
            reply = agent.act()["text"]
            exchanges.append({"question": question, "fact": fact, "reply": reply,
                              "states_fact": states(reply, fact)})
            if verbose:
                mark = "yes" if exchanges[-1]["states_fact"] else "no "
                print(f"  [{mark}] {question}\n        {reply}", flush=True)
    stated = sum(e["states_fact"] for e in exchanges)
    return {"asked": len(exchanges), "stated_fact": stated, "exchanges": exchanges}


def add_subparser(subparsers):
    p = subparsers.add_parser(
        "madeup", help="add made-up articles to a model's index and ask about them (facts "
        "only the new index holds)")
    p.add_argument("-mf", "--model-file", default="runs/embedded/rag_token/model",
                   help="trained retrieval model (default: the experiment's RAG-Token model)")
    p.add_argument("--base-index", default=None,
                   help="index to add the made-up articles to (default: the model's own index)")
    p.add_argument("--out", default=None, help="where to write the new index (default: MODEL.madeup_index)")
    p.add_argument("--articles", default=None,
                   help="made-up articles of your own instead of the built-in ones: a JSON list or JSONL "
                   "file of {\"title\", \"text\": [sentences], \"questions\": [[question, fact], ...]}")
    p.set_defaults(func=_main)


def _main(args):
    base = args.base_index
    if base is None:
        opt_file = Path(f"{args.model_file}.opt")
        if not opt_file.is_file():
            raise FileNotFoundError(f"no trained model at {args.model_file} ({opt_file} is missing)")
        base = json.loads(opt_file.read_text())["index_dir"]
    articles = read_articles(args.articles) if args.articles else None
    out = Path(args.out) if args.out else default_index_dir(args.model_file)
    index = build_index(base, out, articles)
    result = ask(args.model_file, index, articles=articles)
    print(f"stated the made-up fact in {result['stated_fact']} of {result['asked']} answers "
          f"(index {index})")
    return 0
