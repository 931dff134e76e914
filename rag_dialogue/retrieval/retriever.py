"""Index directories (index.faiss, meta.json, passages.jsonl): searching them (building: build.py)."""

import functools
from pathlib import Path

import numpy as np

from rag_dialogue.abstain import (asked_check, common_thing, defined_subject, defines, is_about, names_held,
                                  superlative_check, tokenizer_vocabulary)
from rag_dialogue.grounded_numbers import number_check
from rag_dialogue.retrieval.build import build_index  # noqa: F401 (the API)
from rag_dialogue.retrieval.encoder import TextEncoder
from rag_dialogue.retrieval.index import check_meta
from rag_dialogue.retrieval.query import (ASKED_BONUS, DEFINITION_BONUS, NAME_BONUS, NUMBER_BONUS, SUPERLATIVE_BONUS,
                                         TOPIC_BONUS, distinct_first, fresh_first, topic_share)
from rag_dialogue.retrieval.store import (  # noqa: F401 (PASSAGES_FILE: the API)
    DEFAULT_CACHE, PASSAGES_FILE, load_index_dir)
from rag_dialogue.retrieval.titles import TitleRows


def check_query_encoder(meta: dict, query_encoder: TextEncoder, where):
    """A separately trained query encoder may have another name; only its dimension must
    match. The same encoder must also pool the same way, or scores are meaningless."""
    expect = {"dim": query_encoder.dim}
    if query_encoder.name == meta["encoder"]:
        expect["pooling"] = query_encoder.pooling
    check_meta(meta, expect, where, hint="use the query encoder the index was built for")


def query_encoder_for(opt: dict, meta: dict, name_or_path: str | None = None,
                      load_weights: bool = True) -> TextEncoder:
    """The query encoder an agent with options `opt` uses on an index with `meta`:
    `name_or_path`, else --query-encoder, else the index's own encoder; --query-pooling,
    else the index's pooling; --query-truncate tokens (most recent words kept)."""
    return TextEncoder(name_or_path or opt.get("query_encoder") or meta["encoder"],
                       pooling=opt.get("query_pooling") or meta["pooling"],
                       max_length=int(opt.get("query_truncate", 128)), load_weights=load_weights)


class Retriever:
    """Dense retrieval from an index dir; the query encoder defaults to its passage encoder.

    The passages are read by row from the memory-mapped passages.jsonl (see store.py);
    `knobs` override the index's saved search knobs (nprobe, ef_search, k_factor).
    """

    def __init__(self, index_dir, query_encoder: TextEncoder | None = None,
                 knobs: dict | None = None, cache_size: int = DEFAULT_CACHE):
        self.index_dir = Path(index_dir)
        self.index, self.store = load_index_dir(index_dir, knobs, cache_size)
        self.meta = self.index.meta
        if query_encoder is None:
            query_encoder = TextEncoder(self.meta["encoder"], self.meta["pooling"])
        check_query_encoder(self.meta, query_encoder, index_dir)
        self.query_encoder = query_encoder

    def search_embeddings(self, query_emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for query embeddings [B, D]: scores [B, k] float32, rows [B, k] int64."""
        return self.index.search(query_emb, k)

    @functools.cached_property
    def title_rows(self) -> TitleRows:
        """The store's rows by article title (read once, at the first search with names)."""
        return TitleRows(self.store)

    def search(self, text: str, k: int = 5) -> list[dict]:
        """The k best passages for `text` as [{"id", "title", "text", "score"}], best first."""
        return search_text(self, text, k)


# passages searched beyond k, to take the place of repeated texts and of those the dialogue already says
SEARCH_SLACK = 8
# with names asked about, more: the passages of a named article may rank below others on a
# shared word ("the atmosphere of Mars" finds Earth's atmosphere first)
NAMED_SLACK = 32


def search_fresh(retriever, query_emb: np.ndarray, k: int, said: list[str] | None = None,
                 names: list[list[str]] | None = None,
                 questions: list[str | None] | None = None,
                 topics: list[str | None] | None = None,
                 topic_bonus: float = TOPIC_BONUS) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[B, k]`` of the best passages for query embeddings ``[B, D]``, best first,
    and the bonus ``[B, k]`` each row's score gets from the names it holds.

    A passage whose text an earlier one already has is passed over for the next best
    (`distinct_first`). With ``said`` (the dialogue so far, per example), so are passages
    the dialogue already says (`fresh_first`): what was said is in the context anyway,
    and retrieving it again makes the reply repeat it. With ``names`` (per example, the
    names its message mentions: `abstain.named_terms`), the passages of the articles they
    name (`titles.TitleRows`, where the retriever has them) join the dense search's, and
    passages are ranked by their score plus `query.NAME_BONUS` for each name they hold
    (`abstain.names_held`), a lexical check beside the dense one. With ``questions`` (per
    example, a message that asks for a number or a superlative, or None), a passage of an
    article about a name that gives that number (`grounded_numbers.number_check`) gains
    `query.NUMBER_BONUS` more: "How many works did Mozart complete?" ranks "He completed
    more than 800 works" above "Wolfgang Amadeus Mozart was a Classical composer"; and a
    passage that ranks first what it asks for by a superlative (`abstain.superlative_check`)
    gains `query.SUPERLATIVE_BONUS`: "What is the fastest animal?" ranks the cheetah's
    "the fastest land animal" above Animal's "With few exceptions, animals are able to
    move."; a passage that holds a name gains `query.ASKED_BONUS` times the share it
    holds of what a question asks of it (`abstain.asked_check`): "Who runs the Vantorel
    Observatory?" ranks "... it has been run by ..." above the observatory's first
    sentence. A message that asks what a thing is (`abstain.defined_subject`: "What is
    chess?") brings that thing's articles in too, and the passage that says what it is
    (`abstain.defines`) gains `query.DEFINITION_BONUS`: "Chess is a board game for two
    players ..." above "The objective of the game is to checkmate the enemy king.". With
    ``topics`` (per example, the turn the dialogue opened with: Wizard of Wikipedia's chosen
    topic), a passage gains ``topic_bonus`` times the share of its title's words that
    turn holds (`query.topic_share`), so a conversation keeps to its subject. An
    index that finds fewer than k (approximate, or small) repeats its rows, so every
    example has k.
    The one search both the model and knowledge selection use.
    """
    named = names is not None and any(names)
    ranks = [superlative_check(q) if q else None for q in questions] if questions else []
    asks = [asked_check(q) if q else None for q in questions] if questions and named else []
    subjects = [defined_subject(q) if q else None for q in questions] if questions else []
    encoder = getattr(retriever, "query_encoder", None)
    known = known_words(encoder.tokenizer) if named and encoder is not None else None
    scores, found = retriever.search_embeddings(
        query_emb, k + (NAMED_SLACK if named or any(ranks) or any(subjects) else SEARCH_SLACK))
    store = retriever.store

    def text_of(r):
        return store[int(r)].text

    rows, bonuses = [], []
    for i, (row, score) in enumerate(zip(found, scores)):
        kept = row >= 0  # approximate indexes may return -1
        row, score = row[kept], score[kept]
        # "What is the capital?" after Japan asks for Japan's: Capital (economics) is not brought in
        defining = bool(subjects) and subjects[i] is not None and not (
            common_thing(subjects[i]) and said is not None and _follows_something(said[i], questions[i]))
        if defining:  # the article titled by what the message asks to be told about
            row, score = _with_named_articles(retriever, query_emb[i], row, score, [subjects[i]], exact=True)
        bonus = np.zeros(len(row), dtype=np.float32)
        naming = named and bool(names[i])
        if naming:
            row, score = _with_named_articles(retriever, query_emb[i], row, score, names[i])
            gives = number_check(questions[i]) if questions and questions[i] else None
            bonus = np.array([_bonus(names[i], store[int(r)], gives, known) for r in row], dtype=np.float32)
            if asks and asks[i] is not None:
                # among the passages that hold a name, those that hold what it asks of it
                held = [asks[i](f"{store[int(r)].title} {store[int(r)].text}") if b > 0 else 0.0
                        for r, b in zip(row, bonus)]
                bonus = bonus + ASKED_BONUS * np.array(held, dtype=np.float32)
        ranking = bool(ranks) and ranks[i] is not None
        if ranking:
            bonus = bonus + np.array([SUPERLATIVE_BONUS * ranks[i](store[int(r)].text) for r in row], dtype=np.float32)
        if defining:
            bonus = bonus + np.array([DEFINITION_BONUS * defines(store[int(r)].text, subjects[i]) for r in row],
                                     dtype=np.float32)
        topical = topics is not None and bool(topics[i])
        if topical:
            bonus = bonus + np.array([topic_bonus * topic_share(topics[i], store[int(r)].title) for r in row],
                                     dtype=np.float32)
        if naming or topical or ranking or defining:  # (the named articles' rows join unranked)
            order = np.argsort(-(score + bonus), kind="stable")
            row, bonus = row[order], bonus[order]
        bonus_of = dict(zip(row.tolist(), bonus.tolist()))
        row = distinct_first(row, text_of)
        if said is not None:
            row = fresh_first(row, said[i], text_of, len(row))
        row = np.resize(row[:k], k)
        rows.append(row)
        bonuses.append([bonus_of[int(r)] for r in row])
    return np.stack(rows), np.array(bonuses, dtype=np.float32)


def _follows_something(said: str, message: str) -> bool:
    """Whether the dialogue `said` (its lines, the message's own among them) holds a turn
    before `message`."""
    return any(line.strip() and line.strip() != message.strip() for line in said.split("\n"))


def with_gold(retriever, rows: np.ndarray, golds: list) -> tuple[np.ndarray, np.ndarray]:
    """`rows` ``[B, K]`` with each example's gold passage in the last place where the search
    left it out, and ``[B]`` whether it was put there. `golds` holds per example the
    (title, sentence) of its gold knowledge, or None; the gold passage is the first of its
    title's rows (`TitleRows`) whose text holds the sentence (`metrics.gold_passage_rank`).

    For training: a reply whose knowledge none of its passages holds teaches the generator
    to state what its passages do not say. A store too large for a title table
    (`titles.MAX_ROWS`), or a gold sentence none of its title's rows holds, leaves the rows
    as they were."""
    from rag_dialogue.metrics import gold_passage_rank

    rows, put = rows.copy(), np.zeros(len(rows), dtype=bool)
    titles = getattr(retriever, "title_rows", None)
    if titles is None or not titles.enabled:
        return rows, put
    store = retriever.store
    for i, gold in enumerate(golds):
        if not gold or not gold[1]:
            continue
        title, sentence = gold
        if gold_passage_rank([(store[int(r)].title, store[int(r)].text) for r in rows[i]], title, sentence) is not None:
            continue
        candidates = titles.rows_of.get(title, [])
        found = gold_passage_rank([(title, store[int(r)].text) for r in candidates], title, sentence)
        if found is not None:
            rows[i, -1], put[i] = candidates[found], True
    return rows, put


@functools.lru_cache(maxsize=8)
def known_words(tokenizer):
    """The vocabulary check of a query encoder's tokenizer (`abstain.tokenizer_vocabulary`),
    made once: the name bonus counts a lowercase word it knows only by a passage's title
    (`abstain.names_held`)."""
    return tokenizer_vocabulary(tokenizer)


def _bonus(names: list[str], passage, gives_number, known=None) -> float:
    """What a passage's score gains from the names it holds (`abstain.names_held`, with
    the vocabulary check `known`), and from the number asked where its article is about
    them (`abstain.is_about`): "How long does it take to orbit the Sun?", asked of Saturn,
    must not take Jupiter's orbital period for holding "Sun"."""
    held = names_held(names, passage.title, passage.text, known)
    number = gives_number is not None and is_about(names, passage.title) and gives_number(passage.text)
    return held * NAME_BONUS + bool(number) * NUMBER_BONUS


def _with_named_articles(retriever, query_emb: np.ndarray, rows: np.ndarray, scores: np.ndarray,
                         names: list[str], exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`rows` and their `scores` with the passages of the articles `names` name
    (`TitleRows.rows_for`; `exact`: only those titled so, `TitleRows.rows_named`) that the
    dense search left out, scored by the same inner product."""
    titles = getattr(retriever, "title_rows", None)
    if titles is None or not titles.enabled:
        return rows, scores
    named = [r for name in names for r in titles.rows_named(name)] if exact else titles.rows_for(names)
    extra = np.setdiff1d(np.asarray(named, dtype=np.int64), rows)
    if not extra.size:
        return rows, scores
    extra_scores = retriever.index.reconstruct(extra) @ query_emb.astype(np.float32)
    return np.concatenate([rows, extra]), np.concatenate([scores, extra_scores.astype(scores.dtype)])


def search_text(retriever, text: str, k: int) -> list[dict]:
    """The k best passages for `text` as [{"id", "title", "text", "score"}], best first.

    Long queries keep their end (the most recent dialogue turns).
    """
    query_emb = retriever.query_encoder.encode([text], truncate_left=True)
    scores, rows = retriever.search_embeddings(query_emb, k)
    results = []
    for score, row in zip(scores[0], rows[0]):
        if row < 0:  # an approximate index found fewer than k
            continue
        p = retriever.store[int(row)]
        results.append({"id": p.id, "title": p.title, "text": p.text, "score": float(score)})
    return results

