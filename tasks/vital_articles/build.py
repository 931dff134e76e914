"""Builds the embedded WoW-format dataset (seeded) once under `<datapath>/vital_articles/`.

Layout (WoW's file names, so ParlAI's own WoW teachers can read it with
`--datapath <datapath>/vital_articles`):

    vital_articles/.built                     version + build config
    vital_articles/sizes.json                 episodes, turns, articles per split
    vital_articles/passages.jsonl             knowledge corpus: one sentence per passage
                                              (the articles, then the real WoW train and
                                              valid knowledge)
    vital_articles/passages_counterfactual.jsonl   same, unseen articles counterfactual
    vital_articles/passages_wow_test.jsonl    the real WoW test-seen knowledge (its own index)
    vital_articles/passages_corpus.jsonl      the chat's knowledge: every sentence of all
                                              10,033 articles, and the WoW train/valid
                                              knowledge (written at the first chat)
    vital_articles/wizard_of_wikipedia/       .built ("1.0"), data.json, <split files>
"""

import json
import random
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from rag_dialogue.tasks.vital_articles import corpus, counterfactual, dialogues
from rag_dialogue.tasks.wizard_of_wikipedia import seen as wow_seen
from rag_dialogue.utils import atomic_path

VERSION = "2"  # bump when the generated data changes
FOLDER = "vital_articles"
WOW_FOLDER = "wizard_of_wikipedia"  # ParlAI's WoW code reads <its datapath>/wizard_of_wikipedia
PARLAI_WOW_VERSION = "1.0"  # the version ParlAI's WoW build() expects on .built's second line
SPLIT_FILES = {
    "train": "train.json",
    "valid_seen": "valid_random_split.json",
    "test_seen": "test_random_split.json",
    "valid_unseen": "valid_topic_split.json",
    "test_unseen": "test_topic_split.json",
    "valid_counterfactual": "valid_counterfactual_split.json",
    "test_counterfactual": "test_counterfactual_split.json",
    # real Wizard of Wikipedia conversations (seen topics; see tasks/wizard_of_wikipedia/seen.py)
    "valid_wow": "valid_wow_split.json",
    "test_wow": "test_wow_split.json",
}
SPLITS = tuple(SPLIT_FILES)
PASSAGES_FILE, CF_PASSAGES_FILE = "passages.jsonl", "passages_counterfactual.jsonl"
WOW_TEST_PASSAGES_FILE = "passages_wow_test.jsonl"
SIZES_FILE = "sizes.json"


@dataclass(frozen=True)
class BuildConfig:
    """Size knobs. Defaults: ~1,700 conversations about articles (~5k wizard turns), 900
    real WoW valid-seen conversations (~3,600 turns) to train on, and ~11,000 passages, so
    building, indexing and a 25-minute experiment fit on 2 cores."""
    num_articles: int = 2000  # articles used (train + unseen), sampled with the seed
    unseen_articles: int = 300  # held out: half valid, half test (and their counterfactuals)
    train_conversations: int = 1  # conversations per train article
    # real WoW valid-seen conversations held out of training as `valid_wow` (the rest train)
    wow_valid_episodes: int = 81
    wow_train_episodes: int = 900  # of the rest, at most this many train
    seen_episodes: int = 150  # conversations in each of valid_seen / test_seen
    max_wizard_turns: int = 4
    seed: int = 0

    def check(self, available: int):
        if not 2 <= self.unseen_articles < self.num_articles:
            raise ValueError(f"need 2 <= unseen articles ({self.unseen_articles}) < articles ({self.num_articles})")
        if self.num_articles > available:
            raise ValueError(f"only {available} articles have two or more usable sentences, "
                             f"asked for {self.num_articles}")
        if min(self.train_conversations, self.seen_episodes) < 1 or self.max_wizard_turns < 2:
            raise ValueError("train conversations and seen episodes must be >= 1, max wizard turns >= 2")

    def marker(self) -> str:
        return f"{VERSION} {json.dumps(asdict(self), sort_keys=True)}"


# Help text of each size knob (the teacher's --va-* options and `rag-dialogue data build`).
KNOBS = {
    "num_articles": "articles used, train + unseen",
    "unseen_articles": "held-out articles, half valid, half test",
    "train_conversations": "conversations per train article",
    "seen_episodes": "conversations in valid_seen and in test_seen",
    "wow_valid_episodes": "real WoW valid-seen conversations held out as valid_wow (the rest train)",
    "wow_train_episodes": "real WoW valid-seen conversations that train, at most",
    "max_wizard_turns": "wizard turns per conversation at most",
    "seed": "seed of the whole build",
}


def requested_config(datapath, given: dict) -> BuildConfig | None:
    """The config asked for: knobs in `given` that are not None, the rest as currently built
    (else defaults). None when no knob is given: then any current build will do."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None
    base = asdict(built_config(datapath) or BuildConfig())
    return BuildConfig(**{**base, **given})


def root_dir(datapath) -> Path:
    return Path(datapath) / FOLDER


def split_file(datapath, split: str) -> Path:
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return root_dir(datapath) / WOW_FOLDER / SPLIT_FILES[split]


def passages_file(datapath, counterfactual: bool = False) -> Path:
    return root_dir(datapath) / (CF_PASSAGES_FILE if counterfactual else PASSAGES_FILE)


def wow_test_passages_file(datapath) -> Path:
    return root_dir(datapath) / WOW_TEST_PASSAGES_FILE


CORPUS_PASSAGES_FILE = "passages_corpus.jsonl"


def corpus_passages_file(datapath) -> Path:
    """The whole packaged corpus as sentence passages (every article, every sentence, as
    the experiment's passages are split), then the real WoW knowledge that trains; written
    once, atomically, beside the built dataset."""
    path = root_dir(datapath) / CORPUS_PASSAGES_FILE
    if not path.is_file():
        if built_config(datapath) is None:
            raise FileNotFoundError(f"no embedded dataset under {root_dir(datapath)}: run `rag-dialogue data build`")
        rows = _passages(corpus.load_articles())
        said = {(r["title"], r["text"]) for r in rows}
        experiment = [json.loads(line) for line in passages_file(datapath).read_text(encoding="utf-8").splitlines()]
        rows += [r for r in experiment if (r["title"], r["text"]) not in said]  # the WoW knowledge
        with atomic_path(path) as tmp:
            _write_jsonl(tmp, rows)
    return path


def built_config(datapath) -> BuildConfig | None:
    """The config of the current build, or None if there is none of this VERSION."""
    marker = root_dir(datapath) / ".built"
    lines = marker.read_text().split("\n") if marker.is_file() else []
    if len(lines) < 2 or not lines[1].startswith(VERSION + " "):
        return None
    saved = json.loads(lines[1][len(VERSION) + 1:])
    return BuildConfig(**{f.name: saved[f.name] for f in fields(BuildConfig) if f.name in saved})


def read_sizes(datapath) -> dict:
    return json.loads((root_dir(datapath) / SIZES_FILE).read_text())


def build(datapath, config: BuildConfig | None = None, log=print) -> Path:
    """Build unless a build of this VERSION exists (with `config`, when one is given).

    Returns the root folder. Written to a temporary folder and moved into place, so an
    interrupted build never leaves half a dataset.
    """
    current = built_config(datapath)
    if current is not None and (config is None or config == current):
        return root_dir(datapath)
    from parlai.core.build_data import mark_done

    config = config or BuildConfig()
    root = root_dir(datapath)
    log(f"[building data: {root}]")
    data, passages, cf_passages, wow_test_passages, sizes = generate(config)
    with atomic_path(root) as tmp:
        wow = tmp / WOW_FOLDER
        wow.mkdir(parents=True)
        for split, episodes in data.items():
            _write_json(wow / SPLIT_FILES[split], episodes)
        # ParlAI's rare-word F1 reads every dialogue of data.json, as WoW ships it (but
        # no word counts from the real WoW test conversations)
        _write_json(wow / "data.json", [e for s, eps in data.items()
                                        if "counterfactual" not in s and s != "test_wow" for e in eps])
        mark_done(str(wow), PARLAI_WOW_VERSION)
        _write_jsonl(tmp / PASSAGES_FILE, passages)
        _write_jsonl(tmp / CF_PASSAGES_FILE, cf_passages)
        _write_jsonl(tmp / WOW_TEST_PASSAGES_FILE, wow_test_passages)
        (tmp / SIZES_FILE).write_text(json.dumps(sizes, indent=2) + "\n")
        mark_done(str(tmp), config.marker())
    log(format_sizes(sizes))
    return root


def generate(config: BuildConfig):
    """All splits, the passage corpora and the sizes, from the packaged corpora and the
    shipped real WoW conversations."""
    articles = corpus.load_articles()
    eligible = [a for a in articles if len(dialogues.gold_candidates(a)) >= 2]
    config.check(len(eligible))
    seed = config.seed
    order = list(eligible)
    random.Random(f"{seed}:articles").shuffle(order)
    used = order[:config.num_articles]
    unseen = used[-config.unseen_articles:]
    train = sorted(used[:-config.unseen_articles], key=lambda a: a.title)
    half = len(unseen) // 2
    held_out = {"valid": sorted(unseen[:half], key=lambda a: a.title),
                "test": sorted(unseen[half:], key=lambda a: a.title)}

    by_topic = {}
    for a in train:
        by_topic.setdefault(a.topic, []).append(a)
    reactions = corpus.load_reactions()

    def episode(article, split, n):
        rng = random.Random(f"{seed}:{split}:{article.title}:{n}")
        pool = [a for a in by_topic.get(article.topic, train) if a.title != article.title] or train
        related = rng.sample(pool, min(config.max_wizard_turns, len(pool)))
        return dialogues.make_episode(article, related, rng, reactions=reactions,
                                      max_turns=config.max_wizard_turns)

    data = {"train": [episode(a, "train", n) for a in train for n in range(config.train_conversations)]}
    for fold in ("valid", "test"):
        picked = random.Random(f"{seed}:{fold}_seen").sample(train, min(config.seen_episodes, len(train)))
        data[f"{fold}_seen"] = [episode(a, f"{fold}_seen", 0) for a in sorted(picked, key=lambda a: a.title)]
    pools = counterfactual.FactPools.from_articles(articles)
    kinds = pools.kind_of()
    changes = {}
    for fold in ("valid", "test"):
        data[f"{fold}_unseen"] = [episode(a, f"{fold}_unseen", 0) for a in held_out[fold]]
        for a in held_out[fold]:
            changes[a.title] = counterfactual.find_changes(
                a, pools, random.Random(f"{seed}:counterfactual:{a.title}"), kinds)
        data[f"{fold}_counterfactual"] = [
            dialogues.counterfactual_episode(e, changes[e["chosen_topic"]]) for e in data[f"{fold}_unseen"]
        ]

    # real conversations: WoW valid seen trains (but a seeded held-out slice validates);
    # WoW test seen is only ever evaluated
    wow_valid = wow_seen.episodes("valid")
    random.Random(f"{seed}:wow").shuffle(wow_valid)
    held = min(config.wow_valid_episodes, len(wow_valid) - 1)
    data["valid_wow"], wow_train = wow_valid[:held], wow_valid[held:held + config.wow_train_episodes]
    data["train"] = data["train"] + wow_train
    random.Random(f"{seed}:train").shuffle(data["train"])
    data["test_wow"] = wow_seen.episodes("test")
    data = {split: data[split] for split in SPLITS}

    everything = sorted(used, key=lambda a: a.title)
    wow_knowledge = wow_seen.knowledge_passages(data["valid_wow"] + wow_train, "wow-valid:")
    passages = _passages(everything) + wow_knowledge
    cf_passages = _passages(
        counterfactual.counterfactual_article(a, changes[a.title]) if a.title in changes else a
        for a in everything
    ) + wow_knowledge
    wow_test_passages = wow_seen.knowledge_passages(data["test_wow"], "wow-test:")
    sizes = {split: _split_sizes(eps) for split, eps in data.items()}
    sizes["passages"] = len(passages)
    sizes["counterfactual_passages_changed"] = sum(p != q for p, q in zip(passages, cf_passages))
    sizes["wow_test_passages"] = len(wow_test_passages)
    return data, passages, cf_passages, wow_test_passages, sizes


def _passages(articles):
    # Sentence-level passages with the title: WoW's knowledge is sentences, and short
    # passages are what a small generator learns to copy from.
    return [{"id": f"{a.title}#{i}", "title": a.title, "text": s}
            for a in articles for i, s in enumerate(a.sentences)]


def _split_sizes(episodes) -> dict:
    wizard = [t for e in episodes for t in e["dialog"] if "checked_sentence" in t]
    sizes = {"episodes": len(episodes), "turns": len(wizard),
             "articles": len({e["chosen_topic"] for e in episodes})}
    if any("changed_facts" in t for t in wizard):
        sizes["turns_with_changed_facts"] = sum(bool(t["changed_facts"]) for t in wizard)
    return sizes


def format_sizes(sizes: dict) -> str:
    """A table of the per-split sizes (wizard turns = examples the teacher yields)."""
    lines = [f"{'split':<22}{'episodes':>9}{'turns':>8}{'articles':>9}{'changed':>9}"]
    for split in SPLITS:
        s = sizes[split]
        lines.append(f"{split:<22}{s['episodes']:>9}{s['turns']:>8}{s['articles']:>9}"
                     f"{s.get('turns_with_changed_facts', ''):>9}")
    lines.append(f"passages: {sizes['passages']} "
                 f"({sizes['counterfactual_passages_changed']} differ in the counterfactual corpus; "
                 f"{sizes.get('wow_test_passages', 0)} of real WoW test knowledge in their own index)")
    return "\n".join(lines)


def _write_json(path: Path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)


def _write_jsonl(path: Path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
