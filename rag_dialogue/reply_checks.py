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
from rag_dialogue.abstain import (another_subject, asks_for_fact, asks_the_listener, misses_the_question,
                                  names_no_one)
from rag_dialogue.grounded_numbers import counts_another_whole, gives_no_number, unheld_number

# how far a chat reply may go beyond its passages' words (`metrics.is_hallucinated`'s threshold)
SUPPORT_THRESHOLD = 0.4

Check = Tuple[str, Callable[[str], bool]]


def joining_checks(passages, turns: Sequence[str], said: Sequence[str] = ()) -> Tuple[Check, ...]:
    """(name, test) of every check for a reply that joins what its passages ((title, text)
    pairs) say into a claim none makes, or that does not answer the last of the dialogue's
    `turns`; `said` holds the chat's earlier replies and turns (what a reply should not
    repeat). Each name is the function's that does the test."""
    message, knowledge = turns[-1], "\n".join(f"{title}: {text}" for title, text in passages)
    return (
        ("blended_sentence", lambda r: metrics.blended_sentence(r, passages, turns) is not None),
        ("swapped_ending", lambda r: metrics.swapped_ending(r, passages, turns) is not None),
        ("swapped_lead", lambda r: metrics.swapped_lead(r, passages) is not None),
        ("blended_name", lambda r: metrics.blended_name(r, passages, turns) is not None),
        ("unheld_quote", lambda r: metrics.unheld_quote(r, passages, turns) is not None),
        ("swapped_roles", lambda r: metrics.swapped_roles(r, passages, turns) is not None),
        ("unheld_agent", lambda r: metrics.unheld_agent(r, passages, turns) is not None),
        ("runs_on", lambda r: metrics.runs_on(r, passages) is not None),
        ("unheld_relation", lambda r: metrics.unheld_relation(r, passages, turns) is not None),
        ("unheld_object", lambda r: metrics.unheld_object(r, passages, turns) is not None),
        ("unheld_title", lambda r: metrics.unheld_title(r, passages, turns) is not None),
        ("dropped_rank", lambda r: metrics.dropped_rank(r, passages) is not None),
        ("moved_superlative", lambda r: metrics.moved_superlative(r, passages, turns) is not None),
        ("unheld_superlative", lambda r: metrics.unheld_superlative(r, passages, turns) is not None),
        ("widened_superlative", lambda r: metrics.widened_superlative(r, passages, turns) is not None),
        # the most general last: a more telling name goes first
        ("inserted_word", lambda r: metrics.inserted_word(r, passages, turns) is not None),
        ("names_no_one", lambda r: names_no_one(r, message, [knowledge])),
        ("misses_the_question", lambda r: misses_the_question(r, message, passages, list(said))),
        ("counts_another_whole", lambda r: counts_another_whole(r, message)),
        ("unheld_number", lambda r: unheld_number(r, message, passages)),
        ("gives_no_number", lambda r: gives_no_number(r, message)),
        ("another_subject", lambda r: another_subject(r, message, turns, passages)),
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
    passages and the dialogue do not support (`metrics.is_hallucinated` at `threshold`);
    then each of `joining_checks`."""
    message, knowledge = turns[-1], "\n".join(f"{title}: {text}" for title, text in passages)
    written = [knowledge] + list(turns)
    return (
        ("claims_nothing", lambda r: ("?" in message and asks_for_fact(message) and not asks_the_listener(message)
                                      and not metrics.makes_claim(r, turns))),
        ("degenerate", lambda r: metrics.is_degenerate(r, min_words=1, written=written)),
        ("doubled_word", lambda r: metrics.doubled_word(r, written) is not None),
        ("left_gap", lambda r: metrics.left_gap(r, written) is not None),
        ("cut_name", lambda r: metrics.cut_name(r, written) is not None),
        ("hallucinated", lambda r: metrics.is_hallucinated(r, knowledge, turns, threshold=threshold)),
    ) + joining_checks(passages, turns, said)


def fault(reply: str, passages, turns: Sequence[str], said: Sequence[str] = (),
          threshold: float = SUPPORT_THRESHOLD) -> Optional[str]:
    """The name of the first of `checks` that `reply` fails, else None."""
    return first_failed(checks(passages, turns, said, threshold), reply)
