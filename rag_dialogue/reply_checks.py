"""What the chat checks in a generated reply before it says it.

A reply made of its passages' words can still claim what no passage says, or answer
nothing of what was asked; the word-level measures (`metrics.is_hallucinated`) call it
faithful. Each check below finds one such way, and its docstring gives a chat reply it
caught. `RagDialogueAgent._unless_unsupported` asks `fault` of a reply and, if it names
one, says a passage's sentence instead or declines. Only the chat does this: the
experiment measures what the generator says.
"""

from typing import Callable, Optional, Sequence, Tuple

from rag_dialogue import metrics
from rag_dialogue.abstain import (another_subject, asks_for_fact, asks_the_listener, echoes_the_question,
                                  gives_no_place, gives_no_reason, leaves_out_the_answer, misses_the_question,
                                  names_no_one, tells_another_deed, tells_not_how_died, unsupported_answer_word)
from rag_dialogue.grounded_numbers import counts_another_whole, gives_no_number, tells_another_event, unheld_number

# how far a chat reply may go beyond its passages' words (`metrics.is_hallucinated`'s threshold)
SUPPORT_THRESHOLD = 0.4

Check = Tuple[str, Callable[[str], bool]]


def _check(find: Callable, *args) -> Check:
    """(the name of `find`, whether a reply fails it): `find(reply, *args)` gives what it
    found wrong (a sentence, a word, True), or None or False."""
    return find.__name__, lambda reply: find(reply, *args) not in (None, False)


def knowledge_text(passages) -> str:
    """The passages ((title, text) pairs) as one knowledge text, a "title: text" line each:
    what the measures of support read."""
    return "\n".join(f"{title}: {text}" for title, text in passages)


def joining_checks(passages, turns: Sequence[str], said: Sequence[str] = ()) -> Tuple[Check, ...]:
    """(name, test) of every check for a reply that joins what its passages ((title, text)
    pairs) say into a claim none makes, or that does not answer the last of the dialogue's
    `turns`; `said` holds the chat's earlier replies and turns (what a reply should not
    repeat). Each is named by the function that does the test."""
    message = turns[-1]
    return (
        _check(metrics.blended_sentence, passages, turns),
        _check(metrics.swapped_ending, passages, turns),
        _check(metrics.swapped_lead, passages),
        _check(metrics.blended_name, passages, turns),
        _check(metrics.unheld_quote, passages, turns),
        _check(metrics.swapped_roles, passages, turns),
        _check(metrics.unheld_agent, passages, turns),
        _check(metrics.unheld_apposition, passages, turns),
        _check(metrics.runs_on, passages),
        _check(metrics.unheld_relation, passages, turns),
        _check(metrics.unheld_object, passages, turns),
        _check(metrics.unheld_title, passages, turns),
        _check(metrics.dropped_rank, passages),
        _check(metrics.moved_superlative, passages, turns),
        _check(metrics.unheld_superlative, passages, turns),
        _check(metrics.widened_superlative, passages, turns),
        _check(metrics.unheld_cause, passages, turns),
        # the most general last: a more telling name goes first
        _check(metrics.inserted_word, passages, turns),
        _check(names_no_one, message, [knowledge_text(passages)]),
        _check(misses_the_question, message, passages, list(said)),
        _check(leaves_out_the_answer, message, passages),
        _check(echoes_the_question, message, passages),
        _check(unsupported_answer_word, message, passages),
        _check(counts_another_whole, message),
        _check(unheld_number, message, passages),
        _check(gives_no_number, message),
        _check(gives_no_reason, message),
        _check(gives_no_place, message),
        _check(tells_not_how_died, message),
        _check(tells_another_event, message, turns),
        _check(tells_another_deed, message),
        _check(another_subject, message, turns, passages),
    )


def first_failed(checks: Sequence[Check], reply: str) -> Optional[str]:
    """The name of the first of `checks` that `reply` fails, else None."""
    return next((name for name, fails in checks if fails(reply)), None)


def checks(passages, turns: Sequence[str], said: Sequence[str] = (),
           threshold: float = SUPPORT_THRESHOLD) -> Tuple[Check, ...]:
    """(name, test) of every check, in the order `fault` tries them: to a question for a
    fact, no claim and no decline ("I love sushi. Where does it come from?" -> "I love
    food."); babble (`metrics.is_degenerate`), a word said twice (`metrics.doubled_word`),
    a word left out (`metrics.left_gap`), a name cut short (`metrics.cut_name`); words its
    passages and the dialogue do not support (`metrics.is_hallucinated` at `threshold`),
    in the whole reply or in one of its sentences; then each of `joining_checks`."""
    message, knowledge = turns[-1], knowledge_text(passages)
    written = [knowledge] + list(turns)
    return (
        ("claims_nothing", lambda r: ("?" in message and asks_for_fact(message) and not asks_the_listener(message)
                                      and not metrics.makes_claim(r, turns))),
        ("degenerate", lambda r: metrics.is_degenerate(r, min_words=1, written=written)),
        _check(metrics.doubled_word, written),
        _check(metrics.left_gap, written),
        _check(metrics.cut_name, written),
        _check(metrics.cut_verb, [text for _, text in passages]),
        ("hallucinated", lambda r: metrics.is_hallucinated(r, knowledge, turns, threshold=threshold)),
        ("hallucinated_sentence", lambda r: _a_sentence_hallucinated(r, knowledge, turns, threshold)),
    ) + joining_checks(passages, turns, said)


def _a_sentence_hallucinated(reply: str, knowledge: str, turns, threshold: float) -> bool:
    """Whether a sentence of a reply of several says what its passages and the dialogue do
    not (`metrics.is_hallucinated` at `threshold`), though the whole passes: a true first
    sentence lends its support to a made-up second. Asked "Do you know who Ada Lovelace
    was?", the chat said "Lovelace was an English mathematician and writer. She was the
    daughter of the Countess of Lovelace, who was a mathematician and poet." (0.39 as a
    whole, 0.52 its second sentence; she was the Countess)."""
    sentences = metrics.passage_sentences(reply)
    return len(sentences) > 1 and any(metrics.is_hallucinated(s, knowledge, turns, threshold=threshold)
                                      for s in sentences)


def fault(reply: str, passages, turns: Sequence[str], said: Sequence[str] = (),
          threshold: float = SUPPORT_THRESHOLD) -> Optional[str]:
    """The name of the first of `checks` that `reply` fails, else None."""
    return first_failed(checks(passages, turns, said, threshold), reply)
