"""The retrieval query built from the dialogue history."""


def retrieval_query(turns: list[str], last_n_turns: int | None = None, keep_first: bool = False) -> str:
    """Join the last `last_n_turns` turns (None or 0: all) with "\\n", as ParlAI joins history.

    `keep_first` keeps the first turn too, where Wizard of Wikipedia (and ParlAI's WoW
    teachers) put the chosen topic: Dinan et al. (2019) retrieve with the topic and the
    last two turns, so "tell me more" still finds the topic's passages.

    Word-level truncation is left to `TextEncoder.tokenize(..., truncate_left=True)`,
    which keeps the most recent words; ParlAI's own RAG cut the newest turn instead.
    """
    if last_n_turns is not None and last_n_turns < 0:
        raise ValueError(f"last_n_turns must be >= 0 (0 = all turns), got {last_n_turns}")
    if last_n_turns and len(turns) > last_n_turns:
        turns = ([turns[0]] if keep_first else []) + turns[-last_n_turns:]
    return "\n".join(turns)


# what a passage's score gains for each name of the message it holds: more than the 1-5
# by which the trained query encoder's best passages for a question differ, so a passage of
# the article a question names outranks one that only shares its other words ("What is the
# atmosphere of Mars made of?" found Earth's atmosphere 3.3 above Mars's article)
NAME_BONUS = 4.0
# what a passage that holds a name gains more when it gives the number its message asks for
# (less than a name: a number of the kind asked about something else must not outrank it)
NUMBER_BONUS = 2.0

# what a passage gains when it ranks first what a question asks for by a superlative, of
# the same kind and place ("the fastest land animal" for "What is the fastest animal?"):
# more than a name and the topic together (a first message "What is the fastest animal?"
# is the topic, and its article Animal would gain both)
SUPERLATIVE_BONUS = 6.0

# what a passage that holds a name gains more, times the share of what a question asks of
# its subject that it holds (`abstain.asked_check`): the passages of one article hold its
# name alike, and the dense search ranked "Who runs the Vantorel Observatory?" to the
# observatory's first sentence, its telescope and its founding before "Since 1978 it has
# been run by the University of Tessingford."
ASKED_BONUS = 2.0

# what a passage that says what a thing is ("Chess is a board game ...") gains when a message
# asks what it is ("What is chess?"): the dense search ranked an article's other sentences
# above its definition ("The objective of the game is to checkmate the enemy king."), and
# the reply said them instead
DEFINITION_BONUS = 4.0

# what a passage's score gains when the turn the dialogue opened with holds all its title's
# words (Wizard of Wikipedia's chosen topic; in a chat, the first message). On real WoW valid
# the dense search alone brought other conversations' passages, and replies made from them;
# with this bonus the gold sentence was among the five retrieved for 82% of 304 wizard turns,
# from 72% (valid unseen 97%, from 95%), and 4 or 6 gained under 0.01 more (`bench/bench_grounding.py
# --ways capitals,topic` measures the replies; `Selector(topic_bonus=...).recall` the ranks)
TOPIC_BONUS = 2.0


def topic_share(topic: str, title: str) -> float:
    """The share of a title's content words (stemmed) that the topic holds: 1 for "Welsh
    Corgi" in "Welsh Corgi\nI have two", 0.5 for "Welsh Corgi" in "Corgi", 0 for a title
    with none."""
    from rag_dialogue.metrics import content_stems

    words = content_stems(title)
    return len(words & content_stems(topic)) / len(words) if words else 0.0


# a passage counts as said when one turn holds this share of its content words (paraphrases too)
SAID_COVERAGE = 0.75


def without_questions(said: str) -> str:
    """The dialogue `said` (a turn a line) less its questions' sentences: what it states."""
    import re

    return "\n".join(" ".join(s for s in re.split(r"(?<=[.!?])\s+", turn) if not s.endswith("?")).strip()
                     for turn in said.split("\n"))


def fresh_first(rows, said: str, text_of, n: int, coverage: float = SAID_COVERAGE):
    """The first `n` of `rows` (best first) with those whose passage the dialogue already
    says moved behind the others: what was said is in the context anyway, and
    retrieving it again makes the reply repeat it.

    `said` is the dialogue so far, one turn per line; `text_of(row)` gives a passage's
    text. A passage is said when one turn holds `coverage` of its content words.
    """
    import numpy as np

    from rag_dialogue.metrics import content_words

    turns = [set(content_words(t)) for t in said.split("\n")]
    fresh, stale = [], []
    for r in rows:
        words = content_words(text_of(r))
        covered = max((sum(w in turn for w in words) / len(words) for turn in turns), default=0) if words else 0
        (stale if covered >= coverage else fresh).append(r)
    return np.array((fresh + stale)[:n], dtype=np.asarray(rows).dtype)


def distinct_first(rows, text_of):
    """`rows` (best first) with each passage whose text (normalised) an earlier row already
    has moved behind the others. Indexes of dialogue knowledge hold the same sentence
    under several titles (Wizard of Wikipedia's test-seen knowledge: 3,138 passages, 2,801
    texts), and three of five retrieved passages could be one sentence."""
    import numpy as np

    from rag_dialogue.metrics import normalize

    seen, first, again = set(), [], []
    for r in rows:
        text = normalize(text_of(r))
        (again if text in seen else first).append(r)
        seen.add(text)
    return np.array(first + again, dtype=np.asarray(rows).dtype)
