"""Say "I don't know" when the retrieved passages do not hold what a message asks about.

A retrieval model that is asked about something its index lacks still gets K passages,
about something else, and its generator answers from its own weights: the hallucination
retrieval exists to remove. The evidence is lexical and cheap: a question names things
("Who wrote the opera The Glass Ferry?"), and when no retrieved passage (title and text)
holds any of the names its asking sentences give, the passages cannot support an answer
about it. A question without names is answered (see `unsupported_question`).

Pure functions of the message and the passages' texts; the agent applies them after
retrieval (`--decline-unsupported`), in chat and evaluation alike. `says_nothing_new` tells
the chat when a reply is to be generated again.
"""

import functools
import re
import string
from typing import Callable, Sequence

from rag_dialogue import metrics

# Capitalised words in a row, joined by the short words names keep inside them
# ("Isaac Newton", "The Glass Ferry", "Statue of Liberty", "Notre-Dame de Paris").
_NAME = re.compile(r"[A-Z][\w'’.-]*(?:\s+(?:(?:of|the|de|la|du|von|van|and|da|del)\s+)*[A-Z0-9][\w'’.-]*)*")
_QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PARENTHESIS = re.compile(r"\s*\([^)]*\)")
# what a pronunciation left in an article's first sentence: "Yoga (; Sanskrit, योगः Listen) is ..."
_PRONUNCIATION_LEFT = re.compile(r"\s*\((?:\s*[;,][^)]*|[^)]*\bListen\b[^)]*)\)")
_POINTS_BACK = re.compile(r"\b(it|its|they|them|their|there|he|him|his|she|her|this|that|these|those)\b",
                          re.IGNORECASE)
_ASKING_START = re.compile(
    r"^\s*(who|whom|whose|what|whats|when|where|which|why|how|hows|is|are|was|were|do|does|did|can|could|"
    r"tell me|do you know|have you heard|name|list|describe|explain)\b", re.IGNORECASE)
# Words that start a sentence capitalised but are not names.
_NOT_NAME_WORDS = frozenset({"who", "whom", "whose", "what", "when", "where", "which", "why", "how",
                             "is", "are", "was", "were", "do", "does", "did", "can", "could", "tell", "please", "explain", "describe", "give", "name", "list", "hi",
                             "hello", "hey", "thanks", "ok", "okay", "so", "and", "but", "also",
                             "really", "wow", "cool", "interesting", "nice", "great", "sure", "yes",
                             "no", "well", "oh", "i", "i'm", "im", "what's", "who's", "where's",
                             "how's", "that's", "it's", "let's", "let’s", "here's", "there's"})


# a question word that opens a clause about someone: "When I was a child, ..." tells
_TELLS = re.compile(r"^\s*(?:when|where|how|what|why|which)\s+(?:i|i'm|im|we|my|our|he|she|they|his|her|their)\b",
                    re.IGNORECASE)


# a sentence that opens as a question does: "are they dangerous", "how many teeth do they have"
_QUESTION_START = re.compile(
    r"^\s*(?:who|whom|whose|what|whats|what's|when|where|which|why|how|hows|how's|is|are|was|were|do|does|"
    r"did|can|could|would|will|should|has|have|had)\b"
    # not an exclamation: "what a lovely day", "how cool"
    r"(?!\s+(?:a|an|nice|cool|great|sad|funny|interesting|lovely|awesome|wonderful|amazing|sweet|fun|exciting|"
    r"terrible|awful|weird|strange|cute)\b)", re.IGNORECASE)


def as_typed_question(message: str) -> str:
    """`message` with a "?" after its last sentence where that opens as a question and ends
    without a mark: people type "are they dangerous" or "how many teeth do they have", and
    every check that asks whether a message asks ("?") took such a message for a statement.
    A statement that opens with a clause about someone ("when I was a child ...") is kept."""
    text = (message or "").rstrip()
    last = _SENTENCE.split(text)[-1] if text else ""
    if not last or last[-1] in ".?!\"'”)" or not _QUESTION_START.match(last) or _TELLS.match(last):
        return message
    return text + "?"


def asks_for_fact(message: str) -> bool:
    """A question ("...?") or a request for information ("Tell me about ..."); not a
    statement that opens with a clause about someone ("When I was a child my parents
    separated.")."""
    return "?" in message or bool(_ASKING_START.match(message) and not _TELLS.match(message))


def named_terms(message: str) -> list[str]:
    """The names a message mentions: capitalised spans within a sentence (leading question
    words, greetings and, at a sentence start, everyday words dropped) and quoted titles
    with a capital, in order, without repeats."""
    common = metrics.default_rare_words().common
    terms = [q.strip() for q in _QUOTED.findall(message) if any(c.isupper() for c in q)]
    for sentence in _SENTENCE.split(message):
        for m in _NAME.finditer(sentence):
            words = m.group(0).rstrip(".'’-").split()
            at_start = not sentence[:m.start()].strip(" \"'“‘(")
            while words and (words[0].lower() in _NOT_NAME_WORDS or words[0].islower()  # "And the X"
                             or (at_start and words[0].lower().strip("'’") in common)):
                words, at_start = words[1:], False
            if words and metrics.content_words(" ".join(words)):
                terms.append(" ".join(words))
    kept, covered = [], []
    for term in terms:  # "The Silent Orchard" quoted and capitalised: once
        words = set(metrics.content_words(term))
        if not any(words <= c for c in covered):
            kept.append(term)
            covered.append(words)
    return kept


# a question's verb: the word after "do"/"did"/"can" ... and its subject, a pronoun or one
# word or a name after an article ("Why did it sink?", "How do birds fly?", "When did the
# Berlin Wall fall?", "How long do cats usually live?", "When did people first land on it?")
_ASKED_VERB = re.compile(
    r"\b(?:do|does|did|can|could|will|would|should)\s+"
    r"(?:i|you|he|she|it|we|they|people|(?:(?:the|a|an|this|that|these|those|its|his|her|their|my|your|our)\s+)?"
    r"(?:(?-i:[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)+)|[a-z][\w'’-]*))\s+"
    r"(?:(?P<adverb>[a-z]+ly|first|ever|still|also|even|never|always|just|once)\s+)?(?P<verb>[a-z]+)\b", re.IGNORECASE)


def asked_verbs(message: str) -> set[str]:
    """The verbs of a question's "do"-clauses, lowercase as written: "sink" of "Why did it
    sink?". They say what the subject does, not which article it is: as names, "Why did it
    sink?" (of the Titanic) ranked the article Sink first."""
    return {m["verb"] for m in _asked_clauses(message)}


def _asked_clauses(message: str) -> list:
    """The matches of `_ASKED_VERB` in `message`'s questions whose verb is lowercase."""
    return [m for sentence in _SENTENCE.split(message or "") if "?" in sentence
            for m in _ASKED_VERB.finditer(sentence) if m["verb"].islower()]


def retrieval_names(message: str, ranked_too: bool = False) -> list[str]:
    """What retrieval ranks passages by beside the dense score (`--retrieval-names`): the
    names a message mentions (`named_terms`), then its rarer lowercase content words
    ("octopus", "canal"; not the 2,000 commonest words), which name a thing as well, then
    its everyday content words ("elephant"), which count only as a passage's title
    (`names_held`). A question for a superlative leaves out the words of what it ranks and
    the world ("What is the fastest animal?" is not about the article Animal): its answer
    ranks so (`superlative_check`); with `ranked_too` (a turn a follow-up points back to:
    "How deep is it?" after "What is the largest ocean?") they are kept."""
    names = named_terms(message)
    covered = _name_stems(names)
    # the verbs of its "do"-clauses, and their adverbs ("Do they still play?"), name nothing
    verbs = {word.lower() for m in _asked_clauses(message) for word in (m["verb"], m["adverb"]) if word}
    words = [w for w in metrics.content_words(message) if w not in verbs]
    scopes = [] if ranked_too else _superlatives_asked(message)[1]
    if scopes:
        # "the tallest mountain in the world" names what its answer is one of, not its subject
        ranked = {w for _, kind, _, _ in scopes for w in kind}
        words = [w for w in words if w not in metrics.SUPERLATIVES and metrics.stem(w) not in ranked
                 and metrics.stem(w) not in _THE_WORLD]
    for word in sorted(words, key=_is_common):  # rarer words first, each in the message's order
        stem = metrics.stem(word)
        if stem not in covered:
            names.append(word)
            covered.add(stem)
    return names


def _is_common(word: str) -> bool:
    return word in metrics.default_rare_words().common


def is_everyday(name: str) -> bool:
    """An everyday lowercase word ("elephant", "works"): it names something only as a
    passage's title, not by occurring in its text."""
    return name.islower() and _is_common(name)


def conversation_names(message: str, turns: list[str]) -> list[str]:
    """`retrieval_names` of `message`, the last of the dialogue's `turns`. A follow-up that
    names nothing or points back ("How deep is it?", "Which continents border it?") adds
    those of the same speaker's latest turn that sets a topic: names something and points
    back to nothing ("Tell me about the Pacific Ocean.", past "How tall is it?"), else of
    the latest that names something, so the conversation's topic carries over to its
    retrieval, follow-up after follow-up."""
    names = retrieval_names(message)
    return with_topic_names(names, message, turns) if not names or _POINTS_BACK.search(message) else names


def with_topic_names(names: list[str], message: str, turns: list[str]) -> list[str]:
    """`names` and those of the conversation's topic (`conversation_names`) that they lack."""
    held = _name_stems(names)
    before = [(turn, retrieval_names(turn, ranked_too=True)) for turn in turns[-3::-2]]
    earlier = (_answered_names(message, turns)
               or next((n for turn, n in before if n and not _POINTS_BACK.search(turn)),
                       next((n for _, n in before if n), [])))
    return names + [name for name in earlier if not set(_stems(name)) <= held]


# a question whose answer is a name: "Who wrote ...?", "What's the biggest country?"
_ASKS_FOR_A_NAME_BEFORE = re.compile(r"^\W*(?:who|whom|whose|which|what|whats|what's|where)\b[^?]*\?\W*$",
                                     re.IGNORECASE)
# "he", "she" point back to a person, "there" to a place
_TO_A_PERSON = re.compile(r"\b(?:he|him|his|she|her)\b", re.IGNORECASE)
_TO_A_PLACE = re.compile(r"\bthere\b", re.IGNORECASE)


def _answered_names(message: str, turns: list[str]) -> list[str]:
    """The names the reply before `message` (the second last of `turns`) gave that the
    speaker's own turns did not, where it answered the speaker's question for a name
    ("Who ...?", "What ...?") and `message` points back to a person ("he", "she": a full
    name) or a place ("there"): "When did he die?" after "Who wrote Romeo and Juliet?"
    -> "... written by William Shakespeare ..." asks about Shakespeare, not the play; "How
    many people live there?" after "What's the biggest country?" -> "Russia: It is the
    largest country ..." about Russia."""
    if len(turns) < 3 or not _ASKS_FOR_A_NAME_BEFORE.match(turns[-3]):
        return []  # the reply answered no question for a name: "there" is the speaker's own topic
    reply, own = turns[-2], _name_stems(_names_in(turns[::-2]))
    if _TO_A_PERSON.search(message):
        found = [n for n in _FULL_NAME.findall(reply) if n.split()[0] not in ("The", "A", "An")]
    elif _TO_A_PLACE.search(message):
        found = named_terms(reply)
    else:
        return []
    return [n for n in found if not set(_stems(n)) <= own]


# "won" is among ParlAI's stopwords as the first half of "won't"; the verb is a word asked
_WON = re.compile(r"\bwon\b(?!['’]t)", re.IGNORECASE)


def _stems(text: str) -> list:
    stems = [metrics.stem(w) for w in metrics.content_words(text)]
    return stems + ["won"] * len(_WON.findall(text)) if "won" in (text or "").lower() else stems


def _passage_stems(passages) -> set:
    """The stems of the passages' ((title, text) pairs) titles and texts."""
    return {stem for title, text in passages for stem in _stems(f"{title} {text}")}


# endings that make a word of the same root ("invented" -> "inventor", "founded" -> "founder",
# "discovered" -> "discovery": stems "discov", "discoveri")
_DERIVED = ("er", "or", "ion", "ist", "ian", "al", "eri")


# irregular verbs, each form's stem to its base's: "Who wrote Romeo and Juliet?" is answered
# by "... a tragedy written by William Shakespeare"
_IRREGULAR_VERBS = (
    "write wrote written", "make made", "build built", "find found", "give gave given", "take took taken",
    "begin began begun", "lead led", "win won", "sing sang sung", "speak spoke spoken", "know knew known",
    "draw drew drawn", "grow grew grown", "eat ate eaten", "fly flew flown", "see saw seen", "hold held",
    "keep kept", "sell sold", "tell told", "think thought", "teach taught", "bring brought", "buy bought",
    "fight fought", "run ran", "come came", "become became", "choose chose chosen", "rise rose risen",
    "fall fell fallen", "bear bore born", "lose lost", "leave left", "meet met", "pay paid", "say said",
    "send sent", "spend spent", "stand stood", "feed fed", "shoot shot", "drive drove driven",
    "ride rode ridden", "break broke broken", "steal stole stolen", "freeze froze frozen", "wear wore worn",
    "swim swam swum", "drink drank drunk", "ring rang rung", "sink sank sunk", "hide hid hidden")
_VERB_FORMS = {metrics.stem(form): metrics.stem(forms.split()[0])
               for forms in _IRREGULAR_VERBS for form in forms.split()}


# the stems of the words of a kind: colours, months, seasons
_COLOURS = tuple(metrics.stem(w) for w in (
    "red orange yellow green blue purple violet pink brown black white grey gray golden silver "
    "crimson scarlet turquoise beige ivory cream").split())
_MONTHS = tuple(metrics.stem(w) for w in (
    "January February March April May June July August September October November December").split())
_SEASONS = tuple(metrics.stem(w) for w in "spring summer autumn fall winter".split())


# words a question asks with that passages say in others, by stem: "What do pandas eat?" is
# answered by "... a diet consisting almost entirely of bamboo"
_SAID_AS = {"eat": ("diet", "food", "feed", "prey", "graze", "forag", "herbivor", "carnivor", "omnivor"),
            # "What is the biggest ocean?" -> "The Pacific Ocean is the largest ..."
            "big": ("larg",), "bigger": ("larger",), "biggest": ("largest",),
            "larg": ("big",), "larger": ("bigger",), "largest": ("biggest",),
            "tall": ("high",), "taller": ("higher",), "tallest": ("highest",),
            "high": ("tall",), "higher": ("taller",), "highest": ("tallest",),  # "the tallest waterfall"
            # "What is the closest star to Earth?" -> "The nearest star to Earth is the Sun."
            "close": ("near", "nearbi"), "closer": ("nearer",), "closest": ("nearest",),
            "near": ("close",), "nearer": ("closer",), "nearest": ("closest",),
            "fast": ("quick",), "faster": ("quicker",), "fastest": ("quickest",),
            # "Where does it live?" -> "... native to the Ferrow Islands", "found in", "inhabits"
            "live": ("nativ", "found", "inhabit", "habitat", "endem", "resid", "dwell"),
            "die": ("death", "dead"),
            # "Who won?" (of a war) -> "After the Allied victory, Germany ... were occupied"
            "win": ("victori", "victor", "triumph", "defeat", "champion"),
            # "Where does coffee come from?" -> "The genus "Coffea" is native to tropical Africa ..."
            "come": ("origin", "nativ", "deriv"),
            # "What is silk made from?" -> "It is most commonly produced from the cocoons of ..."
            "make": ("produc", "compos", "consist"),
            # "Who started it?" (a company) -> "The company was founded in 1923 by ..."
            "start": ("found", "establish", "begin", "launch"),
            # "Who built it?" (the Colosseum) -> "Construction began under the Emperor Vespasian in 72 ..."
            "build": ("construct", "erect"),
            # "Who gave it?" (the Statue of Liberty) -> "... a gift to the United States from the people of France"
            "give": ("gift", "donat"),
            # "What is she known for?" -> "Lovelace is often considered the first computer programmer."
            "know": ("consid", "regard", "famou", "renown", "celebr"),
            "1st": ("origin",),  # "first": "Where was tea first grown?" -> "Tea originated in ..."
            "across": ("cross",),  # "the ferry across Lake Merrowin" -> "A ferry crosses it"
            "mountain": ("mount",),  # "Mount Sarrow"
            # a kind of word asked for, said as one of its kind: "What color is it?" -> "... a
            # bright orange shell"; "In what month is the festival?" -> "... in October"
            **{asked: _COLOURS for asked in ("color", "colour")},
            "month": _MONTHS, "season": _SEASONS}


def _said_as(word: str) -> tuple:
    """The stems passages say `word` (a stem, any form of an irregular verb) in (`_SAID_AS`)."""
    return _SAID_AS.get(_VERB_FORMS.get(word, word), ())


def _derived(longer: str, word: str) -> bool:
    """Whether stem `longer` is `word` with an ending of `_DERIVED`, a final "e" dropped
    before it: "inventor" of "invent", "maker" of "make"."""
    rest = longer[len(word):] if longer.startswith(word) else None
    return rest is not None and (rest in _DERIVED or (word.endswith("e") and "e" + rest in _DERIVED))


def _held_stems(asked: set, held: set) -> set:
    """The stems of `asked` that `held` has, or has with one ending more or less of
    `_DERIVED`, or in another form of an irregular verb (`_IRREGULAR_VERBS`), or in other
    words (`_SAID_AS`): "Who invented the
    telephone?" is answered by "... inventor ... credited with patenting the first
    practical telephone"."""
    bases = {_VERB_FORMS.get(h, h) for h in held}

    def holds(word: str) -> bool:
        return word in held or _VERB_FORMS.get(word, word) in bases \
            or bool(held.intersection(_said_as(word))) or any(
            _derived(h, word) or _derived(word, h) for h in held)
    return {word for word in asked if holds(word)}


def _names_in(turns) -> list:
    """The names every one of `turns` mentions (`named_terms`), in order."""
    return [name for turn in turns for name in named_terms(turn)]


def _name_stems(names) -> set:
    """The stems of every content word of `names`."""
    return {stem for name in names for stem in _stems(name)}


def _holds(name: str, runs) -> bool:
    """One of `runs` (stem lists: a title, a text) holds the name's content words side by
    side, in any order ("University of Oxford" holds "Oxford University"). Words of a name
    far apart are something else: "the end of winter ... to the Lantern Festival" does
    not hold "Winter Lanterns"."""
    wanted = _stems(name)
    if not wanted:
        return False
    width, need = len(wanted), set(wanted)
    return any(need <= set(run[i:i + width]) for run in runs for i in range(max(1, len(run) - width + 1)))


def missing_names(message: str, passages, names: list[str] | None = None) -> list[str]:
    """The names of `message` (or the `names` given) that no single passage holds (its
    content words, by Porter stem, side by side in the passage's title or text: `_holds`);
    `passages` are (title, text) pairs."""
    runs = [(_stems(title), _stems(text)) for title, text in passages]
    names = named_terms(message) if names is None else names
    return [name for name in names if not any(_holds(name, held) for held in runs)]


# a lowercase word that may be a verb's form ("barking", "adopted"): it names a passage's
# subject only where the passage writes that form ("My dog keeps barking" is not about Bark
# (botany), "I just adopted a cat" not about Adoption)
_VERB_FORM = re.compile(r"[a-z]{3,}(?:ing|ed)")


def names_held(names: list[str], title: str, text: str, known: Callable[[str], bool] | None = None) -> float:
    """How many of `names` (`retrieval_names`) one passage holds (`_holds`): "Albert
    Einstein" is held by every passage of his article, by its title. A name that is the
    title itself (its words, in any order; a parenthesis left out) counts half as much
    again: the passage is about it, where another only mentions it ("Pacific Ocean" over
    "Sea of Japan: ... from the Pacific Ocean"). An everyday lowercase word counts only
    that way ("elephant" for the article Elephant): held by a text, it says little. With
    `known` (a vocabulary check: `tokenizer_vocabulary`), so does any lowercase word it
    knows ("tallest", "breed"): such a word describes more often than it names, and a
    passage that merely writes it outranked the dense search's better ones ("What's the
    tallest mountain in the world?" found Mount Tai's "The tallest peak is ...", not
    "Mount Everest is the highest mountain on Earth"). A word no vocabulary knows
    ("quindle") names a thing wherever it is written."""
    runs = (_stems(title), _stems(text))
    subject = sorted(_stems(_PARENTHESIS.sub("", title)))
    held = 0.0
    for name in names:
        if _VERB_FORM.fullmatch(name) and not re.search(rf"\b{name}\b", f"{title} {text}", re.IGNORECASE):
            continue
        about = 0.5 * (bool(subject) and sorted(_stems(name)) == subject)
        by_title_only = is_everyday(name) or (known is not None and name.islower() and known(name))
        held += about if by_title_only else _holds(name, runs) + about
    return held


def names_mentioned(names: list[str], title: str, text: str) -> int:
    """How many of `names` one passage holds (`_holds`), everyday words as much as rare
    ones: "soccer", "team" and "players" are all in "Association football, more commonly
    known as football or soccer, is a team sport ... of eleven players"."""
    runs = (_stems(title), _stems(text))
    return sum(_holds(name, runs) for name in names)


def writes_the_title(dialogue: str, title: str) -> bool:
    """Whether `dialogue` writes every word of `title` (a parenthesis left out, any case), as
    it is or with a plural ending: not "August" in "Frédéric Auguste Bartholdi", whose stems
    are the same."""
    written = set(re.findall(r"[\w'’-]+", (dialogue or "").lower()))
    words = re.findall(r"[\w'’-]+", _PARENTHESIS.sub("", title or "").lower())
    return bool(words) and all(w in written or f"{w}s" in written or f"{w}es" in written for w in words)


def is_about(names: list[str], title: str) -> bool:
    """Whether a passage titled `title` is about what `names` (`conversation_names`) name:
    every word of the title (a parenthesis left out) that is not an everyday word is among
    the names' words, by stem (a title of everyday words only, "Elephant", needs them all),
    or the title holds every word of one name that is not an everyday word. "Mount
    Kilimanjaro" is about "Kilimanjaro"; "Atlantic Ocean" and "Strait of Magellan" are not
    about "the Pacific Ocean"."""
    words = metrics.content_words(_PARENTHESIS.sub("", title or ""))
    titled = {metrics.stem(w) for w in words}
    named = _name_stems(names)
    telling = [w for w in words if not _is_common(w)] or words
    if telling and all(metrics.stem(w) in named for w in telling):
        return True
    return any(set(_stems(name)) <= titled for name in names
               if _stems(name) and not is_everyday(name))


def decline_reply(missing: list[str], message: str = "") -> str:
    """What the agent says instead of an answer its passages cannot support; a name the
    message wrote after "the" keeps it ("... anything about the Glorbian Empire.")."""
    if not missing:
        return "I'm sorry, I don't know that."

    def as_written(name: str) -> str:
        led = re.search(rf"\bthe\s+{re.escape(name)}\b", message or "", re.IGNORECASE)
        return f"the {name}" if led and name[:1].isupper() and not name.lower().startswith("the ") else name

    about = " or ".join(as_written(name) for name in missing[:2])  # the first two: a list of five reads as babble
    return f"I'm sorry, I don't know anything about {about}."


def _asking(message: str) -> str:
    """The sentences of `message` that ask (`asks_for_fact`), joined."""
    return " ".join(s for s in _SENTENCE.split(message) if asks_for_fact(s))


# the endings tried to find a word's dictionary form ("glassmakers", "smartest", "morphed")
_ENDINGS = ("s", "es", "ies", "ed", "d", "ing", "er", "est", "ly")


# a sentence that asks about the listener ("Do you like to run on treadmills?") asks for no fact
# ("u", "ur", "ya" in lowercase only: "Ur" is a city)
_TO_THE_LISTENER = re.compile(r"\b(?:(?i:you|your|you're|youre|yours|yourself)|u|ur|ya)\b")


# the polite frame of a question for a fact: "Do you know anything about coffee?" asks about
# coffee, not about the listener
_POLITE_FRAME = re.compile(
    r"\b(?:(?:do|did|does)\s+(?:you|u)\s+(?:happen\s+to\s+)?know|(?:can|could|would)\s+(?:you|u)\s+tell\s+me|"
    r"what\s+(?:can|do)\s+(?:you|u)\s+(?:tell\s+me|know)|(?:have|did)\s+(?:you|u)\s+(?:ever\s+)?heard)"
    r"(?:\s+(?:anything|something|much|a\s+lot|more))?"
    r"(?:\s+(?:about|of))?\b", re.IGNORECASE)


def without_polite_frame(message: str) -> str:
    """`message` less a polite frame around what it asks: "Do you know anything about
    coffee?" -> " coffee?", "Can you tell me who painted it?" -> " who painted it?"."""
    return _POLITE_FRAME.sub(" ", message or "")


def asks_the_listener(message: str) -> bool:
    """Whether a sentence of `message` that asks (`asks_for_fact`) asks about the listener:
    "Hi! How are you today?", "Do you like jazz?"; not "Do you know anything about
    coffee?", which asks about coffee (`without_polite_frame`)."""
    return any(asks_for_fact(s) and _TO_THE_LISTENER.search(without_polite_frame(s))
               for s in _SENTENCE.split(message or ""))


def _a_typo(word: str, is_word) -> bool:
    """Whether a long word (six letters or more) is a known one mistyped: two letters
    swapped ("anythign"), one left out ("attactive") or one too many. A letter changed is
    not counted: made-up names are often a letter from a word ("snorvel")."""
    if len(word) < 6:
        return False
    swapped = (word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1))
    dropped = (word[:i] + word[i + 1:] for i in range(len(word)))
    added = (word[:i] + c + word[i:] for i in range(len(word) + 1) for c in string.ascii_lowercase)
    return any(is_word(w) for candidates in (swapped, dropped, added) for w in candidates)


def unknown_words(text: str, is_word) -> list[str]:
    """The lowercase words of `text` (four letters or more) that `is_word` knows in none of
    their forms (the word, or it less an ending: "glassmakers" -> "glassmaker") and that
    are no known word mistyped (`_a_typo`): words no dictionary holds, such as a made-up
    animal ("What does a glimmerfox eat?"). Sentences that ask about the listener are
    left out. `is_word` is a vocabulary check, such as `tokenizer_vocabulary`."""
    found = []
    for sentence in _SENTENCE.split(text):
        if _TO_THE_LISTENER.search(sentence):
            continue
        for word in re.findall(r"(?<![\w'’-])[a-z]{4,}(?![\w'’-])", sentence):
            forms = [word] + [word[:-len(e)] + ("y" if e == "ies" else "") for e in _ENDINGS
                              if word.endswith(e) and len(word) - len(e) >= 3]
            if word not in found and not any(is_word(f) for f in forms) and not _a_typo(word, is_word):
                found.append(word)
    return found


def tokenizer_vocabulary(*tokenizers):
    """A vocabulary check from Hugging Face tokenizers: a word is known when one of them
    holds it as a single token, with or without a leading space (WordPiece "giraffe",
    byte-level BPE "Ġgiraffe"). A made-up word splits into pieces in all of them
    ("Ġgl", "immer", "fox"); a real one the vocabularies lack is rare enough to be a name."""
    @functools.lru_cache(maxsize=1 << 16)  # retrieval asks of the same few words for every passage
    def is_word(word: str) -> bool:
        return any(len(t.tokenize(prefix + word)) == 1 for t in tokenizers for prefix in ("", " "))
    return is_word


def unsupported_question(message: str, passages, is_word=None, said=()) -> str | None:
    """The decline reply when `message` asks for a fact and the sentences that ask name
    things none of the passages holds (not one of their names), else None (answer from
    the passages). With `is_word` (`tokenizer_vocabulary`), a word no vocabulary knows
    counts as a name ("What does a glimmerfox eat?").

    Every name must be missing: people name things in passing ("I know zebras roam in
    Africa, but ...") that the answer need not hold; but a message that asks about its
    first name itself (`_asks_about`: "Tell me about the Snarlwick Festival in Norway.") is
    declined by it where no passage holds it, as the chat answered that one with Norway's
    first sentence. A question without names is answered:
    its rare words miss paraphrasing passages too often (42% of real WoW questions whose
    wizard had the answer were declined that way; words no vocabulary knows, 7%).

    A follow-up (`follows_up`: "Who was its first emperor?") to a reply that declined
    asks about the names of the same speaker's latest turn before it that names something
    and points back to nothing (`said`: the dialogue's turns before `message`): asked
    about the Zarnovian Empire, the chat declined, and then, asked its first emperor, made
    up "The empire was ruled by the Zarnovian dynasty.". A question in between that names
    nothing sets the topic as well: after "I've been reading about ancient Egypt." and "Who
    built the pyramids?" (declined), "How old are they?" asks about the pyramids, not
    Egypt. After any other reply a name said
    in passing is not what a follow-up asks about ("Is that a trait you can tell early
    on?" after a wizard's reply on genius and an apprentice's mention of IQ)."""
    message = (message or "").strip()
    if not message or not asks_for_fact(message):
        return None
    asking = _asking(message)
    names = named_terms(asking)
    of_before = not names and follows_up(message, said) and metrics.declines(said[-1])
    if of_before:
        asking = next((turn for turn in list(said)[-2::-2]
                       if (named_terms(turn) or asks_for_fact(turn)) and not _POINTS_BACK.search(turn)), asking)
        names = named_terms(asking)
    if is_word is not None:
        held = _name_stems(names)
        names += [w for w in unknown_words(asking, is_word) if metrics.stem(w) not in held]
    missing = missing_names(asking, passages, names)
    if names and len(missing) == len(names):
        if of_before and not any(name in said[-1] for name in missing):
            # a subject the chat spoke of before is no unknown: "Who killed him?" after
            # Abraham Lincoln and a decline of "How did he die?" is declined as a question
            return decline_reply([])
        return decline_reply(missing, asking)
    if names and missing[:1] == names[:1] and _asks_about(asking, names[0]):
        return decline_reply(names[:1], asking)
    return None


# what opens a message that asks about what it names next: "Tell me about", "Have you heard
# of", "What do you know about", "What is", "Who was"
_ABOUT_FRAME = re.compile(
    r"^\W*(?:(?:can|could|would)\s+you\s+(?:please\s+)?)?(?:tell\s+me\s+(?:more\s+|something\s+|a\s+bit\s+)?about"
    r"|have\s+you\s+(?:ever\s+)?heard\s+(?:of|about)|what\s+do\s+you\s+know\s+about"
    r"|do\s+you\s+know\s+(?:anything\s+|much\s+)?about|(?:what|who)\s+(?:is|was|are|were))"
    r"\s+(?:the\s+|a\s+|an\s+)?", re.IGNORECASE)


def _asks_about(asking: str, name: str) -> bool:
    """Whether `asking` asks about `name` itself: the name comes right after a frame that
    asks about what follows (`_ABOUT_FRAME`): "Tell me about the Snarlwick Festival in
    Norway." asks about the festival, not Norway, though it names both."""
    frame = _ABOUT_FRAME.match(asking or "")
    return bool(frame) and asking[frame.end():].lower().startswith(name.lower())


def unheld_subject(message: str, passages) -> str | None:
    """The decline reply, naming it, when the first name that `message`'s asking sentences
    give (what they ask about) is one no passage holds, else None. For a reply already
    taken back: "Tell me about the Glimmerfen Bridge in Oslo." is not answered by "Oslo
    is the capital and most populous city of Norway." (`unsupported_question` answers it,
    as Oslo is held: a name in passing may be all a passage needs to hold)."""
    asking = _asking((message or "").strip())
    names = named_terms(asking)
    return decline_reply(names[:1], asking) if names and missing_names(asking, passages, names[:1]) else None


# "When was it first known, and where?": the passages may answer the rest
_ASKS_MORE = re.compile(r"\b(?:and|or)\s+(?:who|whom|whose|what|where|which|why|how)\b", re.IGNORECASE)


_HOW_LONG = re.compile(r"\bhow\s+long\b", re.IGNORECASE)


def unanswered_number(message: str, passages) -> str | None:
    """The decline reply when `message` asks for a number (`grounded_numbers.asked_number`:
    a measure, a count, a date), nothing more ("..., and where?"), and no passage states
    one of that kind, else None. The
    numbers rule lets a reply state only its passages' numbers, so the generator, asked
    "When did World War II end?" with three passages that give no year, wrote around the
    gap: "World War II ended on the  long date of  over  over a century."; asked "How many
    bones are in the adult human body?", it said "There are thirty bones in each leg." """
    from rag_dialogue.grounded_numbers import asked_number, holds_the_event, passage_answers

    asking = _asking((message or "").strip())
    kind = asked_number(asking)
    if kind is None or _ASKS_MORE.search(asking) or _TO_THE_LISTENER.search(asking):
        return None  # "When was the last time you read a book?" asks the listener
    # asked when someone died or was born, a sentence must give a number and speak of that
    # event ("When did he die?" is not answered by a year he founded a company in)
    # "How long ...?" asks for a length or a time: "How long was he organist of the cathedral?"
    kinds = (kind, "duration") if kind == "measure" and _HOW_LONG.search(asking) else (kind,)
    if any(passage_answers(k, sentence, asking) and holds_the_event(sentence, asking, [title])
           for title, text in passages for sentence in metrics.passage_sentences(f"{title} {text}") for k in kinds):
        return None
    return decline_reply([])


REPEAT_F1 = 0.6  # token F1 with an earlier reply at which a reply says nothing new
NOTHING_MORE = "I'm sorry, I don't know more about that."  # when every try repeats
# to a question about itself ("What's your favourite kind?") that it has no true answer to:
# it has no tastes or travels of its own, and says so
OF_ITSELF = "I can't say for myself. What about you?"


def repeats(reply: str, earlier) -> bool:
    """True when `reply` repeats one of the `earlier` replies: the same words, or a token F1
    (normalised words, ParlAI's answer normalisation) of at least REPEAT_F1 with one."""
    from collections import Counter

    words = metrics.normalize(reply).split()
    return bool(words) and any(metrics._f1(words, Counter(metrics.normalize(before).split())) >= REPEAT_F1
                               for before in earlier)


def says_back(reply: str, message: str) -> bool:
    """True when the reply adds no content word (by stem) to the message it answers: it
    says the message back ("I love coffee in the morning." to "I love coffee in the
    morning."), or says nothing of substance. An answer may reuse the question's words
    ("Gustave Eiffel's company built the Eiffel Tower" adds "Gustave")."""
    said = {metrics.stem(w) for w in metrics.content_words(message)}
    return all(metrics.stem(w) in said for w in metrics.content_words(reply))


def says_nothing_new(reply: str, message: str, earlier) -> bool:
    """True for a chat reply to generate again: empty, a repeat of an `earlier` reply
    (`repeats`), the message said back (`says_back`), or babble (`metrics.is_degenerate`:
    a loop, a sentence that restates its subject; short answers such as "Paris." pass)."""
    # is_degenerate with min_words=1 is also what catches an empty reply
    return metrics.is_degenerate(reply, min_words=1) or repeats(reply, earlier) or says_back(reply, message)


_ASKS_WHO = re.compile(r"^\s*(?:who|whom|whose)\b", re.IGNORECASE)
_ASKS_WHERE = re.compile(r"^\s*where\b", re.IGNORECASE)
_ASKS_WHY = re.compile(r"^\W*(?:\w+[,!.]\s+)?why\b", re.IGNORECASE)
_WHO_VERB = re.compile(r"^\s*who\s+([a-z]+)\b", re.IGNORECASE)
# a word, "by" and a full name within four words: "a novel by English author Jane Austen"
_BY_SOMEONE = re.compile(r"\b([\w'’-]+)\s+by\s+(?:[\w'’-]+\s+){0,3}?[A-Z][\w'’.-]*\s+[A-Z]")


# deeds of making a work, which "a novel by Jane Austen" tells (stems): not "illustrated",
# "translated" or "published", which another may have done
_MAKING = frozenset("write wrote written compos paint direct creat make made design author sing sang sung draw drew "
                    "sculpt film record produc built build invent".split())


def _work_by_someone(sentence: str) -> bool:
    """Whether `sentence` names who made a work after "by" and a noun, not a verb: "a
    novel by Jane Austen" (who wrote it), not "a tragedy written by William Shakespeare",
    which says the deed itself."""
    return any(not re.search(r"(?:ed|en|wn)$", m.group(1).lower()) and metrics.stem(m.group(1).lower()) not in _VERB_FORMS
               for m in _BY_SOMEONE.finditer(sentence))
_ASKS_WHO_IS = re.compile(r"^\s*who(?:\s+(?:is|was|are|were)\b|'s|’s)", re.IGNORECASE)
# a person's full name: two capitalised words or more ("Albert Einstein", "Alexander Fleming")
_FULL_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b")
_SUBJECT_PRONOUN = re.compile(r"^(?:It|They|He|She|Its|Their|His|Her|This|These)\b")
# a pronoun that opens the main clause after a fronted phrase: "At 7,088 kilometers long, it is ..."
_FRONTED_PRONOUN = re.compile(r"^(.{3,100}?),\s+(?:it|they|he|she|its|their|his|her)\b")


def _led_by_pronoun(sentence: str, title: str) -> bool:
    """Whether `sentence` speaks of its subject by a pronoun before naming it: it opens with
    one, or its main clause does after a fronted phrase that holds no word of `title`
    ("At 7,088 kilometers (4,404 mi) long, it is the longest river in the world" of the
    Nile)."""
    if _SUBJECT_PRONOUN.match(sentence or ""):
        return True
    fronted = _FRONTED_PRONOUN.match(sentence or "")
    return bool(fronted) and not set(_stems(fronted.group(1))) & set(_stems(title))


def refers_back(message: str) -> bool:
    """Whether `message` speaks of what the dialogue is about without naming it: by a
    pronoun ("How tall is it?", "the biggest one"), or by "the" and a word that no phrase
    completes, where it names nothing and asks for no superlative ("What is the capital?"
    after Japan; not "the capital of Japan", "the tallest mountain in the world")."""
    message = message or ""
    if _POINTS_BACK.search(message) or re.search(r"\b(?:the|this|that)\s+(?:\w+\s+)?ones?\b", message, re.I):
        return True  # "What is the biggest one?"
    return (not named_terms(message) and superlative_check(message) is None
            and bool(_THE_THING.search(message)))


# "the capital?", "the population" (a word after "the" that no "of ..." or "in ..." completes)
_THE_THING = re.compile(r"\bthe\s+[a-z]+\b(?!\s+(?:of|in|on|at|for|from|about)\b)(?!\s+[a-z]+\s+(?:of|in)\b)",
                        re.IGNORECASE)


# a question word alone, which asks of what was just said: "Why?" after "Who built it?"
_BARE_QUESTION = re.compile(r"^\W*(?:and\s+|so\s+|but\s+)?(?:why|where|when|how|how\s+come|who|what\s+for)"
                            r"(?:\s+(?:exactly|not|then))?\W*$", re.IGNORECASE)


def follows_up(message: str, said) -> bool:
    """A follow-up that points back, or is a question word alone, and names nothing ("Who
    designed it?", "When did it last erupt?", "Why?"): it asks about what the dialogue is
    about."""
    message = message or ""
    return bool(said) and bool(_POINTS_BACK.search(message) or _BARE_QUESTION.match(message)) \
        and not named_terms(message)


def on_topic(passages, message: str, said) -> list:
    """The `passages` ((title, text) pairs) that may answer `message`: to a follow-up
    (`follows_up`), those whose title the dialogue (`said`, its turns) holds, so that
    "Who designed it?" after the Eiffel Tower is not answered by Tower Bridge's "designed
    by Horace Jones"; to any other message, all of them. A follow-up that points to a
    place ("What is the tallest mountain there?" after Japan) is answered by a passage
    about something there too: Mount Fuji's "It is the highest mountain in Japan". One that
    asks who ("Who was the first to walk on it?" after the Moon) is answered by a person's
    passage that names what two turns of the dialogue named: Neil Armstrong's "... became
    the first person to walk on the Moon", not The Last Supper's "... by the Italian High
    Renaissance artist Leonardo da Vinci" after the Mona Lisa's "... by the Italian artist
    Leonardo da Vinci"."""
    if not follows_up(message, said):
        return list(passages)
    from rag_dialogue.retrieval.query import topic_share

    dialogue = "\n".join(said)
    names = [frozenset(_stems(n)) for n in _names_in(said)]
    places = set(names) if _TO_A_PLACE.search(message) else ()
    # to "Who ...?", what the dialogue is about, by name: a name two of its turns speak of
    # ("the Moon"), not one said in passing ("the Italian artist Leonardo da Vinci" of the Mona Lisa)
    subjects = []
    if _ASKS_WHO.match(_asking(message) or message):
        turns = [set(_stems(turn)) for turn in dict.fromkeys(said)]
        subjects = [name for name in names if name and sum(name <= turn for turn in turns) >= 2]

    def of_someone_named_here(title: str, text: str) -> bool:
        held = set(_stems(text))
        return bool(_FULL_NAME.fullmatch(_PARENTHESIS.sub("", title).strip())) and any(n <= held for n in subjects)

    return [(title, text) for title, text in passages if topic_share(dialogue, title) == 1.0
            or any(frozenset(_stems(m.group(1))) in places for m in _IN_A_PLACE.finditer(text))
            or (subjects and of_someone_named_here(title, text))]


# "the company?": "the" and one word, which no other word goes on ("the human body" is a thing of its own)
_THE_ONE_WORD = re.compile(r"\bthe\s+[a-z]+\b(?!\s+[a-z])")


def of_the_dialogue(passages, message: str, said) -> list:
    """`on_topic`'s passages, and to a message that speaks of the dialogue's thing by "the"
    and a word rather than a pronoun (`refers_back`), only those whose title the dialogue
    holds, as to "it": asked "Who started the company?" after "How much does a Tesla
    cost?", Ford Motor Company's "It was founded by Henry Ford ..." is not the answer; a
    first message's "How many bones are in the human body?" asks of a thing of its own. For
    passages ranked further down, which the message did not bring up itself."""
    from rag_dialogue.retrieval.query import topic_share

    passages = on_topic(passages, message, said)
    earlier = [turn for turn in said if turn.strip() and turn.strip() != (message or "").strip()]
    if earlier and _THE_ONE_WORD.search(message or "") and refers_back(message) and not follows_up(message, said):
        dialogue = "\n".join(said)
        passages = [(title, text) for title, text in passages if topic_share(dialogue, title) == 1.0]
    return passages


# where a thing is, by name: "the highest mountain in Japan", "located in the Andes"
_IN_A_PLACE = re.compile(r"\bin\s+(?:the\s+)?([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")


def another_subject(reply: str, message: str, said, passages) -> bool:
    """True when `reply`, to a follow-up (`follows_up`), speaks of the subject of a
    retrieved passage whose title shares no word with the dialogue (`said`, its turns), and
    of nothing else the dialogue holds beyond the message's words. Asked "When did it last
    erupt?" after Tamu Massif, with Volcano's, Mount Pelée's and Mount Fuji's passages, the
    chat said "Mount Fuji last erupted from 1707 to 1708.", true of another mountain.
    "Apollo 11 landed on the Moon in 1969." to "When did that happen?" after the Moon
    landing speaks of the Moon too, and stands. So does a reply to a message that tells of
    its speaker and asks nothing (`tells_of_oneself`): "I've been feeling really tired
    lately." -> "... especially for people with chickenpox." speaks of Chickenpox, whose
    passage the retriever found for its "tiredness"."""
    if not (asks_of_the_subject(message, said, passages) or tells_of_oneself(message)):
        return False
    from rag_dialogue.retrieval.query import topic_share

    # the verb a follow-up asks with names no subject: "Can they fly?" of penguins is not
    # about the insect Fly, whose passage the retriever found for "fly"
    verbs = asked_verbs(message)
    dialogue = "\n".join(" ".join(w for w in re.findall(r"\S+", turn) if w.strip("?!.,").lower() not in verbs)
                          if turn == message else turn for turn in said)
    held, asked = metrics.content_stems(dialogue), metrics.content_stems(message)
    said_by_reply = metrics.content_stems(reply)
    beyond_the_message = said_by_reply - asked
    # the most of the reply's words a passage of the dialogue's subject holds: a reply that
    # names Tokyo, drawn from Japan's "Tokyo is the country's capital", speaks of Japan
    on_topic = max((_drawn_share(said_by_reply, text) for title, text in passages if topic_share(dialogue, title) > 0),
                   default=0.0)

    def speaks_of(title, text):
        share = _drawn_share(said_by_reply, text)
        return (topic_share(reply, title) == 1.0 and share >= on_topic) or share > max(on_topic, DRAWN_SHARE)

    return any(title and (topic_share(dialogue, title) == 0 or another_kind(dialogue, title))
               and speaks_of(title, text)  # (an untitled one: no subject)
               and not (beyond_the_message - metrics.content_stems(title)) & held
               for title, text in passages)


# a sentence-cased title of a thing named by its kind of another ("Bass guitar", "Cell wall"):
# its words after the first are not capitalised (not a name: "Great Wall of China")
_KIND_TITLE = re.compile(r"^(?P<modifiers>[A-Z]?[a-z][\w-]*(?:\s+[a-z][\w-]*)*)\s+(?P<head>[a-z][\w-]*)$")
# a modifier that describes rather than names a thing ("Human heart", "Modern pizza",
# "Electric guitar"): these are the subject itself, told more exactly
_DESCRIBING = re.compile(r"(?:al|ic|an|ern|ish|ous|ive|ary|ese|ar|ful|less|able|ible|ed|ing)$")


def another_kind(dialogue: str, title: str) -> bool:
    """Whether `title` names another thing of the kind the `dialogue` speaks of: a
    sentence-cased title (`_KIND_TITLE`) whose last word the dialogue holds and whose words
    before it (not describing ones: `_DESCRIBING`) it does not. Asked "How many strings does
    it have?" of the guitar, the chat answered from Bass guitar's "The electric bass guitar
    most commonly has four strings"; asked "Why?" of the Great Wall of China, from Cell
    wall's "... to help the cell withstand osmotic pressure". "Moon landing" (the dialogue
    holds its first word, not its last) and "Human heart" are not another kind."""
    match = _KIND_TITLE.match(_PARENTHESIS.sub("", title or "").strip())
    if not match:
        return False
    held = metrics.content_stems(dialogue)
    modifiers = [w for w in match.group("modifiers").lower().split() if w not in metrics.stopwords()]
    return metrics.stem(match.group("head")) in held and bool(modifiers) and not any(
        _DESCRIBING.search(w) or metrics.stem(w) in held for w in modifiers)


def asks_of_the_subject(message: str, said, passages) -> bool:
    """Whether `message` asks about what the dialogue (`said`) is about: it points back and
    names nothing (`follows_up`), or names nothing and a passage of that subject holds all
    it asks (`_answered_on_topic`)."""
    return follows_up(message, said) or _answered_on_topic(message, said, passages)


def _answered_on_topic(message: str, said, passages) -> bool:
    """Whether `message`, a question that names nothing and asks for no superlative, has
    all it asks held by a passage whose title the dialogue before it (`said`) shares a word
    with: "How many people died?" after the Titanic asks of the Titanic, and its sinking's
    "... the deaths of up to 1,635 people" holds what it asks; it follows up as surely as
    "it" would."""
    if not said or named_terms(message or "") or not asks_for_fact(message or "") \
            or superlative_check(message) is not None:  # "What is the longest river?" asks of its own
        return False
    from rag_dialogue.retrieval.query import topic_share

    earlier = list(said[:-1]) if said[-1] == message else list(said)
    asked = set(_stems(re.sub(r"\bhow\s+(?:many|much)\b", " ", _asking(message) or message, flags=re.IGNORECASE)))
    dialogue = "\n".join(earlier)
    return bool(asked) and any(topic_share(dialogue, title) > 0 and _held_stems(asked, set(_stems(f"{title} {text}"))) == asked
                               for title, text in passages)


DRAWN_SHARE = 0.55  # above it, a reply speaks of what the passage holding that share of its words does


def _drawn_share(reply_stems: frozenset, text: str) -> float:
    """The share of a reply's content words (its stems, four at least; else 0) that a
    passage's `text` holds: "While the Rwandan Constitution states ...", said of the
    Titanic, speaks of the Rwandan genocide."""
    return len(reply_stems & metrics.content_stems(text)) / len(reply_stems) if len(reply_stems) >= 4 else 0.0


_OF_ONESELF = re.compile(r"\b(?:i|i'm|im|i've|ive|i'd|me|my|we|we're|our|us)\b", re.IGNORECASE)


def tells_of_oneself(message: str) -> bool:
    """Whether `message` speaks of its speaker and asks nothing: "I've been feeling really
    tired lately.", "My grandmother just turned 90."."""
    return bool(_OF_ONESELF.search(message or "")) and not any(
        asks_for_fact(s) for s in _SENTENCE.split(message or ""))


def of_the_subject(passages, message: str, said) -> list:
    """The `passages` ((title, text) pairs) that may answer a follow-up (`follows_up`):
    those whose title shares a word with the dialogue (`said`, its turns) and that do not
    speak of another subject (`another_subject`, read with their title); all of them to any
    other message. Mount Pelée's "Its most recent eruption was in 1932." does not answer
    "When did it last erupt?" after Tamu Massif, nor Mount Tai's "The tallest peak is ...
    1,545 meters" "how tall is it" after the tallest building; Moon landing's "... Apollo 11
    in 1969." answers "When did that happen?" after the first person on the Moon."""
    if not asks_of_the_subject(message, said, passages):
        return list(passages)
    from rag_dialogue.retrieval.query import topic_share

    dialogue = "\n".join(said)
    return [(title, text) for title, text in passages if topic_share(dialogue, title) > 0
            and not another_subject(f"{title}: {text}", message, said, [(title, text)])]


_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]+")


def names_no_one(reply: str, message: str, written=()) -> bool:
    """True when `message` asks "Who ...?" for someone, and `reply` names no one: no
    capitalised word of two letters or more that the message lacks and that is not an
    everyday word ("A", "The"; "penicillin G" names a compound, not who discovered
    it). A sentence's first word is capitalised whatever it is, so it names someone only
    where neither `reply` nor the `written` texts (the passages) write it in lowercase:
    "Long-distance technologies invented ..." to "Who invented the telephone?" names no
    one. "Who invented the light bulb?" got "A bulb socket provides mechanical support
    and electrical connections."; "Who wrote Pride and Prejudice?", "Written when she was
    aged 20–21, it was her third novel ...". "Edison invented it." names someone; "Who
    were the Beatles?" asks what they were, "Who is your favourite singer?" asks the
    listener, and "Who knows, ..." asks nothing."""
    message, reply = message or "", reply or ""
    if not (_ASKS_WHO.match(message) and "?" in message) or asks_the_listener(message) \
            or (_ASKS_WHO_IS.match(message) and named_terms(message)):
        return False
    from rag_dialogue.grounded_names import opens_sentence

    common, asked = metrics.default_rare_words().common, set(_stems(message))
    lowercase = None

    def a_name(word: str, opens_a_sentence: bool) -> bool:
        nonlocal lowercase
        if metrics.stem(word) in asked or word in common:
            return False
        if not opens_a_sentence:
            return True
        if lowercase is None:  # read only when a sentence opens with a rare word
            lowercase = set(metrics.content_words(" ".join(
                re.findall(r"(?<![\w'’-])[a-z][\w'’-]*", " ".join((reply, *written))))))
        return word not in lowercase

    return not any(a_name(word, opens_sentence(reply[:found.start()]))
                   for found in _CAPITALISED.finditer(reply) for word in metrics.content_words(found.group()))


def with_its_subject(reply: str, passages, said) -> str:
    """`reply` led by its passage's title ("Mount Pelée: Its most recent eruption was in
    1932.") where it speaks of its subject by a pronoun first (`_led_by_pronoun`: it opens
    with one, or its main clause does) and reads out the opening of a sentence of a
    passage ((title, text) pairs) whose title the dialogue (`said`) does not hold: the
    pronoun is the passage's, and the listener cannot know what it stands for. As
    `passage_reply` leads the sentences it gives."""
    if not (_SUBJECT_PRONOUN.match(reply or "") or _FRONTED_PRONOUN.match(reply or "")):
        return reply
    from rag_dialogue.retrieval.query import topic_share

    opening = metrics.normalize(" ".join(reply.split()[:6]))
    dialogue = "\n".join(said)
    for title, text in passages:
        if title and topic_share(dialogue, title) < 1.0 and _led_by_pronoun(reply, title) and any(
                metrics.normalize(sentence).startswith(opening) for sentence in metrics.passage_sentences(text)):
            return f"{_PARENTHESIS.sub('', title).strip()}: {reply}"
    return reply


def with_the_one_ranked(reply: str, passages, said) -> str:
    """`reply` as the passage sentence it reads out, led by that passage's title, where the
    last turn of `said` asks for a superlative (`superlative_check`), the sentence ranks it
    first and speaks of its subject without naming it, and no turn names it either: "What
    is the hottest planet?" -> "Venus: At the mean surface level, the atmosphere reaches a
    temperature of 737 K, making it the hottest planet ...". Words of the reply's own before
    that sentence ("I know that's a great question!") are left out. A reply that gives the
    superlative asked of no one named gives way to that sentence: "I know that is the
    oldest capital city in the world." -> "Damascus: It is the oldest capital city in the
    world."."""
    ranks = superlative_check(said[-1]) if said else None
    if ranks is None or _TITLED.match(reply or ""):
        return reply
    from rag_dialogue.retrieval.query import topic_share

    dialogue = "\n".join(said)
    sentences = _SENTENCE.split((reply or "").strip())
    # a superlative of what is asked, of no one named: "I know that is the oldest capital
    # city in the world." from Damascus's "It is the oldest capital city in the world."
    names_no_subject = (ranks(reply) and not _names_beyond(reply, said)
                        and not any(topic_share(reply, other) == 1.0 for other, _ in passages if other))
    for title, text in passages:
        subject = _PARENTHESIS.sub("", title or "").strip()
        ranking = [p for p in metrics.passage_sentences(text) if ranks(p)] if subject else []
        if not ranking or topic_share(f"{dialogue}\n{reply}", subject) == 1.0:
            continue
        for i, sentence in enumerate(sentences):
            opening = metrics.normalize(" ".join(sentence.split()[:6]))
            if opening and any(metrics.normalize(p).startswith(opening) for p in ranking):
                return f"{subject}: {' '.join(sentences[i:])}"
        if names_no_subject:
            lead = f"{subject}: " if not set(_stems(subject)) <= set(_stems(ranking[0])) else ""
            return lead + ranking[0]
    return reply


_TITLED = re.compile(r"^[^:\n]{1,80}: ")  # a reply led by its passage's title


# a time: a year, a month, a day of the week, a season, a century, "every year"
_A_TIME = re.compile(r"(?<![0-9.,])[0-9]{3,4}(?![0-9]|[.,][0-9])|\b(?:January|February|March|April|May|June|July|"
                     r"August|September|October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|"
                     r"Saturday|Sunday|spring|summer|autumn|winter|century|centuries|annually|daily|weekly|"
                     r"monthly|yearly|every\s+(?:day|week|month|year))\b")


# a place named after a preposition of place, up to five lowercase words between but no
# other preposition: "on the banks of the river Caddon", "native to the Ferrow Islands",
# "in Denmark"; not "in a victory for Morv"
_A_PLACE = re.compile(r"\b(?:in|on|at|near|along|off|across|throughout|inside|to|from)\s+"
                      r"(?:(?!(?:for|with|by|as|than|after|before|during|about|against|like|to|from|in|on|at)\b)"
                      r"[a-z][\w-]*\s+){0,5}?([A-Z][\w'-]*)")


def passage_reply(passages, said, message: str = "") -> str | None:
    """The sentence of `passages` ((title, text) pairs, best first) that shares most words
    (by stem, its title's too) with `message`, the best passage's first on a tie, among
    those that repeat none of `said` (earlier replies and turns: `repeats`; a question
    repeats nothing), as a reply;
    one that opens with a pronoun is led by its passage's title ("Giraffe: They are the
    tallest living terrestrial animals ..."), so it says what it is about. "Where is Hamlet
    set?" takes "Set in Denmark, the play depicts ...", not "It is Shakespeare's longest
    play." A question for someone ("Who ...?") counts a full name the message lacks as one
    word more: "Who developed the theory of general relativity?" takes "Albert Einstein was
    a German-born theoretical physicist best known for developing the theory of
    relativity.", not "This form was a critical input for the development of the theory of
    general relativity." "Which river ...?" likewise counts a river named so ("the River
    Teme") as one word more, and "When ...?" a sentence that names a time ("held every
    August", not "... stage holds 12,000 people"). Where no sentence shares a word with the message ("Tell me more."),
    the words of the whole dialogue (`said`) decide; None where none shares one with that
    either ("Hi, how are you?" retrieved "0 is a number representing an empty quantity.")
    or every one repeats. A follow-up that points back and names nothing ("Who designed
    it?", after the Eiffel Tower) asks about what the dialogue is about: only passages whose
    title the dialogue holds answer it, not Tower Bridge's "designed by Horace Jones". A
    question ("...?") takes only a sentence that holds all its content words (all but one
    of four or more; "Where ...?" all but one); None where none does. "What is the capital
    of Australia?" takes only a sentence that relates the two (`metrics.relates`). "Where
    ...?" takes only a sentence that names a place, or anything, that the dialogue has not
    named: a capitalised word inside it.
    Of sentences sharing as many words, one whose subject is what the message asks about
    comes first: "What is the Colosseum?" takes "The Colosseum is an elliptical
    amphitheatre ...", not the first passage's "Further modifications were made during the
    reign of Domitian."""
    passages = on_topic(passages, message, said)
    # a question is no fact said: the answer to "What is the tallest building in Pellimor?"
    # says its words again ("At 64 metres, it is the tallest building in Pellimor.")
    stated = [turn for turn in said if not turn.rstrip().endswith("?")]
    fresh = [(title, sentence) for title, text in passages for sentence in metrics.passage_sentences(text)
             if len(sentence.split()) >= 3 and not repeats(sentence, stated)]
    stems = [set(_stems(f"{title} {sentence}")) for title, sentence in fresh]
    # "whats ur favorite movie" asks no "ur", "Do you know anything about coffee?" no "know"
    # "I like tea. Where was it first grown?" asks where it was first grown, of tea (the
    # words of what it tells that the passages hold), not of liking
    asking = _asking(message)
    question = asking or message  # what it asks, and the question words it is read by
    asked = _asked_stems(message)
    if asking and asking != message.strip():
        told = set(_stems(message)) - set(_stems(asking))
        asked |= told & _passage_stems(passages)
    if "?" in message and asked:
        # a question is answered only by a sentence that holds what it asks, all its words
        # but one of four or more: "What is the tallest mountain in the world?" is not
        # answered by Burj Khalifa's "the tallest building in the world"
        # ("Where ...?" of two words or more one word fewer, its verb often the one left:
        # "Where does the mossback tortoise live?" -> "... native to the Ferrow Islands."; it
        # must name a place)
        # (and where its verb is all it asks: "Where does it come from?" of sennet bread ->
        # "Sennet bread is a flat rye bread from the coastal region of Lorvaig.")
        verbs = {metrics.stem(v) for v in asked_verbs(question)}
        spare = 1 if _ASKS_WHERE.match(question) and (len(asked) >= 2 or asked <= verbs) else int(len(asked) >= 4)
        # "Who wrote Pride and Prejudice?" is answered by "... a novel by English author
        # Jane Austen": a sentence that names who did it after "by" holds the deed asked
        deed = _WHO_VERB.match(question)
        deed = {metrics.stem(deed.group(1).lower())} & asked & _MAKING if deed else set()
        kept = [(pair, held) for pair, held in zip(fresh, stems)
                if len(asked - _held_stems(asked, held | (deed if _work_by_someone(pair[1]) else set()))) <= spare]
        fresh, stems = [pair for pair, _ in kept], [held for _, held in kept]
    relation = metrics.asked_relation(message)
    if relation:
        # "What is the capital of Australia?" is answered only by a sentence that says
        # whose capital: not Melbourne's "the capital ... of the Australian state of Victoria"
        kept = [(pair, held) for pair, held in zip(fresh, stems) if metrics.relates([pair], *relation)
                and not metrics.relation_in_past(pair[1], message)]
        fresh, stems = [pair for pair, _ in kept], [held for _, held in kept]
    # "What is the biggest ocean?" is not answered by "the second largest of the world's five oceans",
    # "What's the longest river in Africa?" not by "the longest river in South Africa", "What is
    # the largest planet?" not by "the largest natural satellite of the planet Neptune"
    kept = [(pair, held) for pair, held in zip(fresh, stems) if not _ranks_the_superlative(pair[1], message)
            and not _scoped_elsewhere(pair[1], message, said) and not ranks_another(pair[1], message)]
    fresh, stems = [pair for pair, _ in kept], [held for _, held in kept]
    if _ASKS_WHERE.match(question or ""):
        # "Where is it?" asks for a place: a sentence that names none the dialogue has not
        # is no answer ("The Great Barrier Reef can be seen from outer space ...")
        known = {stem for text in list(said) + [message] for stem in _stems(text)}
        kept = [(pair, held) for pair, held in zip(fresh, stems)
                if {metrics.stem(w) for w in metrics.name_words(pair[1])} - known]
        # ... and of those, one that says where ("on the banks of the river Caddon"), where
        # one does: "... fought in 1412 between the kingdoms of Astren and Morv" names two
        # kingdoms, but not where the battle was
        placed = [(pair, held) for pair, held in kept
                  if any(metrics.stem(m.group(1).lower()) not in known for m in _A_PLACE.finditer(pair[1]))]
        fresh, stems = [pair for pair, _ in placed or kept], [held for _, held in placed or kept]
    if not any(_held_stems(asked, held) for held in stems):
        asked = {stem for turn in said for stem in _stems(_TO_THE_LISTENER.sub(" ", turn))}
    who = _ASKS_WHO.match(question or "")
    which = _ASKS_WHICH.match(question or "")
    when = re.match(r"^\W*when\b", question or "", re.IGNORECASE)
    why = _ASKS_WHY.match(question or "")
    other_words = {said_as for word in asked for said_as in _said_as(word)}
    best, best_shared = None, 0
    for (title, sentence), held in zip(fresh, stems):
        shared = len(_held_stems(asked, held))
        if shared and who and any(name not in message for name in _FULL_NAME.findall(f"{title}. {sentence}")):
            shared += 1  # "Who ...?" asks for someone: a sentence that names a person may answer
        if shared and which and _names_a(which.group(1), sentence):
            shared += 1  # "Which river ...?": a sentence that names one ("the River Teme")
        if shared and when and _A_TIME.search(sentence):
            shared += 1  # "When is it held?": "... held every August", not "... holds 12,000 people"
        if shared and why and gives_a_reason(sentence):
            shared += 1  # "Why did it fall?": "... pressure from invading peoples ... contributed to the collapse"
        if shared and _opens_with(sentence, asked):
            shared += 0.5  # a sentence about what is asked, as its subject: "The Colosseum is ..."
        # each other word for what is asked counts a little: "... herbivorous with a diet of
        # bamboo" answers "What do pandas eat?" better than "... bamboo in place for feeding"
        shared += 0.1 * len(held & other_words) if shared else 0
        if shared > best_shared:
            lead = f"{_PARENTHESIS.sub('', title).strip()}: " if title and _led_by_pronoun(sentence, title) else ""
            best, best_shared = lead + _PRONUNCIATION_LEFT.sub("", sentence), shared
    return best


def _superlatives_asked(message: str) -> tuple:
    """The stems of the superlatives the asking sentences of `message` ask for unranked
    (with their other words: "largest" for "biggest"), and their `metrics.superlative_scopes`
    (superlative stem, ranked stems, place, plural) there."""
    asking = _asking(message or "")  # not "... the biggest in China, I think. What else ...?"
    wanted = {metrics.superlative_stem(w) for w in _asked_superlatives(asking)}
    return wanted, [scope for scope in metrics.superlative_scopes(asking) if scope[0] in wanted]


def superlative_check(message: str):
    """Whether a text ranks first, unranked, of the same kind and place, what `message`
    asks for by a superlative ("What's the tallest mountain in the world?": "Mount Everest
    is the highest mountain on Earth", not Denali's "the highest mountain peak in North
    America" nor "the second highest mountain"): a predicate on texts, or None when the
    message asks for no superlative (`metrics.superlative_scopes`)."""
    wanted, scopes = _superlatives_asked(message)
    asked = [(kind, set(_stems(place)), plural) for _, kind, place, plural in scopes]
    if not asked:
        return None

    def ranks_first(text: str) -> bool:
        return any(word in wanted and metrics.ranks_alike(asked_kind, kind) and set(_stems(place)) == asked_place
                   and plural <= asked_plural  # "the highest mountains on each continent" are not the one
                   for sentence in metrics.passage_sentences(text)
                   for word, kind, place, plural in metrics.superlative_scopes(sentence)
                   for asked_kind, asked_place, asked_plural in asked)
    return ranks_first


# a message that asks what a thing is: "What is jazz?", "What are black holes?", "Who was
# Cleopatra?", "Tell me about the Roman Empire.", "What do you know about chess?"
_ASKS_WHAT_IT_IS = re.compile(
    r"^\s*(?:(?:so|and|ok|okay|well|then)[,!]?\s+)?"
    r"(?:(?:what|who)(?:'s|’s|s|\s+is|\s+are|\s+was|\s+were)|tell\s+me(?:\s+more)?\s+about|"
    r"what\s+(?:do|can)\s+you\s+(?:know|tell\s+me)\s+about|"
    r"(?:do\s+you\s+know|have\s+you\s+heard)(?:\s+anything|\s+much)?\s+(?:about|of))\s+"
    r"(?:(?:a|an)\s+)?(?P<subject>(?:the\s+)?[^?.!]+?)\s*[?.!]*\s*$", re.IGNORECASE)
# a sentence that says what its subject is: "<subject> (...), <apposition>, is/are/was/were
# <what it is>"; "Jazz is characterized by ..." and "Bees are found ..." say how it is instead
_DEFINITION = re.compile(r"^(?:(?:the|a|an)\s+)?(?P<head>[^,;:]+?)(?:,[^;:]*?,)?\s+(?:is|are|was|were)\s+"
                         r"(?P<next>[\w'-]+)", re.IGNORECASE)
_DESCRIBES = re.compile(r"(?:\w+ed|\w+ly|not|no|known|made|found|seen|thought|said|held|built|written|also|"
                        r"still|now|often|sometimes|one\s+of\s+the\s+(?:most|best))$", re.IGNORECASE)
# what a message asks of a thing rather than what it is ("the Moon made of", "jazz like")
_ASKS_OF_IT = re.compile(r"\b(?:made|called|named|used|known|doing|going|like|good|bad)\b|"
                         r"\b(?:of|for|from|by|with|in|on|at|about|to)\s*$", re.IGNORECASE)
# words that name no thing of their own ("What is the biggest one?", "What are some examples?")
_NO_THING = re.compile(r"\b(?:one|ones|thing|things|stuff|kind|kinds|type|types|difference|differences|"
                       r"example|examples|some|any|other|else|most|best|first|last|special|"
                       r"when|where|why|how|which|what)\b|,", re.IGNORECASE)
# where a sentence's subject goes on ("The Amazon River in South America is ...")
_SUBJECT_GOES_ON = re.compile(r"\s+(?:in|of|on|at|from|near)\s+", re.IGNORECASE)


def defined_subject(message: str) -> str | None:
    """What `message` asks to be told about when it asks what a thing is ("What are black
    holes?" -> "black holes", "Tell me about the Sun." -> "the Sun"), or None: a message
    that asks anything else ("What is the Moon made of?"), asks about the listener or names
    nothing ("What is it?")."""
    m = _ASKS_WHAT_IT_IS.match(message or "")
    if not m or asks_the_listener(message):
        return None
    subject = m.group("subject")
    words = re.sub(r"^the\s+", "", subject, flags=re.IGNORECASE).split()
    if not _stems(subject) or len(words) > 6 or _POINTS_BACK.fullmatch(words[0]):
        return None
    if _ASKS_OF_IT.search(subject) or _NO_THING.search(subject) or _asked_superlatives(message):
        return None  # "What is the Moon made of?" asks what it is made of, "the biggest one" which
    return subject


def defines(text: str, subject: str) -> bool:
    """Whether the first sentence of `text` says what `subject` is: "A black hole is an
    astronomical body ..." for "black holes", "The Amazon River in South America is the
    largest river ..." for "Amazon River"; not "A stellar black hole is ..." (another
    thing), nor "Jazz is characterized by swing ..." (how it is). "the" and a common noun
    ("What is the capital?", after Japan) asks about one the dialogue means: only a name
    ("The Sun is ...", for "the sun") is defined by it, not the Cook Islands' "The capital
    is Avarua"."""
    sentences = metrics.passage_sentences(_PARENTHESIS.sub("", text or ""))
    m = _DEFINITION.match(sentences[0]) if sentences else None
    if not m or _DESCRIBES.fullmatch(m.group("next")):
        return False
    head = m.group("head")
    core = _SUBJECT_GOES_ON.split(head)[0]  # "Amazon River" of "Amazon River in South America"
    if _POINTS_BACK.match(head):  # "Its capital was ..." is another thing's
        return False
    if re.match(r"the\s", subject, re.IGNORECASE) and subject.islower() and not all(
            w[:1].isupper() for w in core.split()):
        return False
    return same_thing(head, subject) or same_thing(core, subject)


def common_thing(subject: str) -> bool:
    """Whether `subject` is "the" and one common noun, lowercase and singular ("the
    capital", not "the history of yoga" or "the dinosaurs"): in a follow-up it means the
    one of what the dialogue is about, not what the word means."""
    return bool(re.fullmatch(r"the\s+[a-z]+(?<!s)", subject or ""))


def same_thing(name: str, other: str) -> bool:
    """Whether two names say the same words, but for a plural: "black holes" and "A black
    hole", "Zebras" and "zebra"; not "Capitalism" and "capital", which share a stem."""
    return _singular_words(name) == _singular_words(other) != []


def _singular_words(text: str) -> list:
    def singular(word):
        if word.endswith("ies") and len(word) > 4:
            return word[:-3] + "y"
        if re.search(r"(?:[sxz]|ch|sh)es$", word):
            return word[:-2]
        return word[:-1] if word.endswith("s") and not word.endswith("ss") else word
    return [singular(w) for w in metrics.content_words(text)]


def asked_check(message: str):
    """The share of what a question for a fact asks of its subject that a text holds
    (`_held_stems`): a function of texts, or None for a message that asks no fact, or
    asks about the listener, or asks nothing beyond the names it mentions, or asks for a
    number (`grounded_numbers.number_check` ranks those). "Who runs the Vantorel
    Observatory?" asks "runs" of the observatory: "Since 1978 it has been run by the
    University of Tessingford." holds all of it, the observatory's first sentence
    nothing."""
    from rag_dialogue.grounded_numbers import asked_number

    if not asks_for_fact(message or "") or asks_the_listener(message) or asked_number(message) is not None:
        return None
    asking = without_polite_frame(_asking(message) or message)
    asked = set(_stems(asking)) - _name_stems(named_terms(message))
    if not asked:
        return None
    return lambda text: len(_held_stems(asked, set(_stems(text)))) / len(asked)


def ranks_another(sentence: str, message: str) -> bool:
    """Whether `sentence` gives the superlative `message` asks for (or its other word) of
    another thing than it asks: "Triton is the largest natural satellite of the planet
    Neptune." to "What is the largest planet?". A superlative of nothing named ("the
    largest in the Solar System") is left to the other checks."""
    wanted, scopes = _superlatives_asked(message)
    asked = [kind for _, kind, _, _ in scopes]
    given = [kind for word, kind, _, _ in metrics.superlative_scopes(sentence or "") if word in wanted]
    return bool(asked and given) and not any(metrics.ranks_alike(a, g) for a in asked for g in given)


def leaves_out_superlative(reply: str, message: str) -> bool:
    """Whether `message` asks for a superlative it does not rank ("Who was the tallest
    president?"; not "Is it the biggest?") and `reply` says none, in those words or others
    ("largest" for "biggest")."""
    asking = _asking(message or "")
    ranked = _asked_superlatives(asking)
    return bool(ranked) and not _ASKS_YES_NO.match(asking) and not ranked & set(metrics._lowered_words(reply or ""))


def _asked_superlatives(message: str) -> set:
    """The superlatives `message` asks for without ranking them ("the biggest ocean", not
    "the second largest"), with their other words ("largest")."""
    asked = metrics._lowered_words(message or "")
    wanted = {w for i, w in enumerate(asked) if w in metrics.SUPERLATIVES and not metrics._rank_before(asked, i)}
    wanted |= {made for made in metrics.most_superlatives(message or "")  # "the most popular sport"
               if made.split()[0] in wanted}
    return wanted | {other for w in wanted for other in _SAID_AS.get(w, ())}


def _scoped_elsewhere(reply: str, message: str, said: Sequence[str] = ()) -> bool:
    """Whether `message` asks for a superlative it does not rank ("the smallest country in
    the world") that `reply` gives of a place the message does not name ("Seychelles is the
    smallest country in Africa"). A yes-no question may be answered so ("Is it the
    smallest country in the world?" -> "It is the smallest country in Africa."). A message
    that points to a place ("What is the tallest mountain there?") names what the
    dialogue before it (`said`) names: after "I want to visit Japan.", "the highest
    mountain in Japan" answers it."""
    wanted = _asked_superlatives(message)
    if not wanted or _ASKS_YES_NO.match(message):  # "Is it the biggest desert?" -> "... the largest hot desert"
        return False
    named = set(_stems(message))
    if said and _TO_A_PLACE.search(message):
        named |= _name_stems(_names_in(said))
    for m in re.finditer(rf"\b(?:{'|'.join(sorted(wanted))})\b(?:\s+[a-z-]+){{0,3}}?\s+(?:in|of|on)\s+(?:the\s+)?"
                         r"([A-Z][\w'-]*)", reply or "", re.IGNORECASE):
        if m.group(1)[:1].isupper() and not set(_stems(m.group(1))) & (named | _THE_WORLD):
            return True
    return False


_YES_NO_WORDS = r"is|are|was|were|do|does|did|can|could|has|have|had"  # that open a yes-no question
_ASKS_YES_NO = re.compile(rf"^\W*(?:{_YES_NO_WORDS})\b", re.IGNORECASE)
# "the largest of Earth's five oceans", "the smallest in the Solar System" narrow nothing
_THE_WORLD = frozenset({"earth", "world", "solar", "universe"})


def _ranks_the_superlative(sentence: str, message: str) -> bool:
    """Whether `message` asks for a superlative it does not rank ("the biggest ocean") that
    `sentence` gives only ranked, by an ordinal or "one of" ("the second largest of the
    world's five oceans")."""
    wanted = _asked_superlatives(message)
    words = metrics._lowered_words(sentence)
    places = [i for i, w in enumerate(words) if w in wanted]
    return bool(places) and all(metrics._rank_before(words, i) for i in places)


def _opens_with(sentence: str, asked: set) -> bool:
    """Whether the first content word of `sentence` is one of the stems `asked`: the
    sentence speaks of what is asked as its subject."""
    words = metrics.content_words(" ".join(sentence.split()[:6]))
    return bool(words) and bool(_held_stems({metrics.stem(words[0])}, asked))


# "What else?", "Anything more about it?", "Can we talk about Bible?": asks for anything
# more, or about a subject, not for a fact in particular
_ASKS_ANYTHING = re.compile(r"\b(?:else|more|(?:talk|tell\s+me|anything)\s+about)\b", re.IGNORECASE)


# a question for a fact put to the listener: "Do you know where it originated from?" is
# answered by "Pizza was invented in Naples", without a word of it
_ASKS_POLITELY = re.compile(r"\b(?:do|did|does)\s+(?:you|u)\s+(?:\w+\s+)?(?:know|remember)\b|"
                            r"\b(?:can|could|would)\s+(?:you|u)\s+(?:tell|name|explain|recommend|suggest)\b|"
                            r"\bwhat\s+can\s+(?:you|u)\s+tell\b", re.IGNORECASE)


_ANSWER_WORD = re.compile(r"^\W*(?:yes|yeah|yep|yup|no|nope|not really|sure|of course)\b", re.IGNORECASE)


# the share of a reply's words its sentence holds when the reply reads it out with a few
# words left out ("I know that bees are winged insects ..."), not in words of its own
_NEARLY_READ_OUT = 0.9


def _paraphrased(reply: str, passages, share: float = 0.6) -> tuple | None:
    """The (title, sentence) of `passages` whose words (by stem) hold most of `reply`'s, at
    least `share` of its four or more content words: the sentence it says in other words.
    None where none does."""
    words = set(_stems(reply))
    if len(words) < 4:
        return None
    best, best_share = None, share
    for title, text in passages:
        for sentence in metrics.passage_sentences(text):
            covered = len(_held_stems(words, set(_stems(f"{title} {sentence}")))) / len(words)
            if covered >= best_share and (best is None or covered > best_share):
                best, best_share = (title, sentence), covered
    return best


# words that give a cause or a reason: the measure's causes ("because", "due to", "led
# to") and what contributes to, results from or explains a thing, what it is adapted to,
# or what it is for ("built ... as protection against various nomadic groups")
_GIVES_REASON = re.compile(r"\b(?:contribut\w*\s+(?:\w+\s+)?to|results?\s+(?:from|of)|resulted\s+from|in\s+order\s+to"
                           r"|so\s+(?:that|as\s+to)|comes?\s+from|came\s+from|explained\s+by|attributed\s+to"
                           r"|responsible\s+for|reasons?|adapt(?:ed|ation|ations)|as\s+(?:a\s+)?(?:protection|defen[cs]e)"
                           r"|for\s+(?:protection|defen[cs]e)|to\s+(?:protect|defend|prevent|avoid|escape|survive|attract"
                           r"|keep|allow|help|find|reach)"
                           # an event that brought it about: "closed ... after a flood destroyed it"
                           r"|after\s+(?:a|an|the|its|his|her|their)\s+(?:[\w'-]+\s+){1,2}?[a-z]+ed)\b", re.IGNORECASE)


# a phrase of place: a preposition of place, or a word that tells where ("native to",
# "located", "endemic", "found"), then a word: "in the chloroplasts", "formed in Liverpool"
_GIVES_PLACE = re.compile(r"\b(?:in|on|at|near|along|off|across|throughout|inside|within|between|around|beneath"
                          r"|(?<!ranging\s)(?<!ranges\s)(?<!ranged\s)(?<!range\s)from"  # not "ranging from folk to rock"
                          r"|under|above|below|north|south|east|west|nativ\w*|locat\w*|situat\w*|endemic|found"
                          r"|lies|lived?|borders?|where)\s+(?:the\s+)?(?!the\b)"  # ("the" is read as the article only)
                          # not a time: "in September 1969", "in 1962", "in the early 1960s", "in fact"
                          r"(?!(?:january|february|march|april|may|june|july|august|september|october|november"
                          r"|december|spring|summer|autumn|fall|winter|early|late|mid|middle|past|future|time|times"
                          r"|years?|decades?|centur\w+|order|addition|fact|particular|general|total"
                          # nor the scope of a superlative: "the most visited work of art in the world"
                          r"|world|universe)\b|\d"
                          # nor an age: "in the Qin dynasty", "during the Edo period"
                          r"|(?:[\w'-]+\s+){0,2}(?:dynast\w+|era|eras|period|periods|age|ages|reign)\b"
                          # nor a state of things, which no article opens: "grew in sophistication"
                          r"|(?<!the\s)[a-z]+(?:tion|sion|ity|ness|ment|ance|ence|ism)\b)\w",
                          re.IGNORECASE)


def gives_no_place(reply: str, message: str) -> bool:
    """Whether `reply`, to a question that asks where of the world (not of the listener:
    "Where do you live?"), says no place at all (`_GIVES_PLACE`; a reply of four words or
    fewer may be the place alone) and does not decline:
    "Where were they from?" of the Beatles -> "The Beatles were comprised of John Lennon,
    Paul McCartney, George Harrison, and Ringo Starr."; "Where does it happen?" of
    photosynthesis -> "The term photosynthesis usually refers to the process of releasing
    oxygen as a byproduct of water splitting." """
    asking = _asking(message or "")
    if not (asking and _ASKS_WHERE.match(asking)) or asks_the_listener(asking) or metrics.declines(reply or ""):
        return False
    # a short answer may be the place alone: "Ancient India." (a WoW wizard's)
    return len((reply or "").split()) > 4 and not _GIVES_PLACE.search(reply or "")


def gives_a_reason(sentence: str) -> bool:
    """Whether `sentence` gives a cause or a reason (`metrics` causes, `_GIVES_REASON`):
    "... appear blue because of an optical effect known as Rayleigh scattering", "Increasing
    pressure from invading peoples ... contributed greatly to the collapse"."""
    return bool(metrics._CAUSE.search(sentence or "") or _GIVES_REASON.search(sentence or ""))


def gives_no_reason(reply: str, message: str) -> bool:
    """Whether `reply`, to a question that asks why of the world (not of the listener: "Why
    do you like it?"), neither gives a cause or a reason (`gives_a_reason`) nor declines:
    "Why are flamingos pink?" -> "Flamingos are a type of wading bird in the family
    Phoenicopteridae, ..."; "Why did it fall?" of the Roman Empire -> "The Western Roman
    Empire collapsed in 476 AD, ...": when, not why."""
    asking = _asking(message or "")
    if not (asking and _ASKS_WHY.match(asking)) or asks_the_listener(asking) or metrics.declines(reply or ""):
        return False
    return not gives_a_reason(reply)


# how someone died: asked ("How did she die?"), and told (a cause, a manner, a killing)
_ASKS_HOW_DIED = re.compile(r"^\W*how\s+(?:did|do|does)\s+(?:[\w'-]+\s+){1,4}?die\b", re.IGNORECASE)
_TELLS_HOW_DIED = re.compile(
    r"\b(?:die[sd]?|dying)\s+(?:of|from)\b|\bdeath\s+from\b"
    r"|\b(?:killed|murdered|assassinated|executed|beheaded|hanged|poisone?d?|poisoning|suicide|drowned|drowning"
    r"|shot|stabbed|strangled|slain|martyred|crucified|burned|guillotined"
    r"|bitten|illness|disease|cancer|stroke|heart\s+(?:attack|failure)|pneumonia|tuberculosis|plague|fever"
    r"|infection|overdose|accident|crash|wounds?|battle|natural\s+causes|old\s+age|took\s+(?:his|her|their)"
    r"\s+own\s+life)\b", re.IGNORECASE)


def tells_not_how_died(reply: str, message: str) -> bool:
    """Whether `reply`, to "How did she die?", neither tells how (a cause, a manner, a
    killing: `_TELLS_HOW_DIED`) nor declines: of Cleopatra, "... ruled by the Ptolemaic
    dynasty until the death of Cleopatra in 30 BC." says when."""
    asking = _asking(message or "") or message or ""
    if not _ASKS_HOW_DIED.match(asking) or metrics.declines(reply or ""):
        return False
    return not _TELLS_HOW_DIED.search(reply or "")


# deeds whose dates people ask for, each with the words it is told in (stems): a date
# asked of one is not answered by the date of another ("When did the Berlin Wall fall?" ->
# "Construction of the Berlin Wall was commenced ... on 13 August 1961.")
_DEEDS = (frozenset({"start", "begin", "began", "begun", "commenc", "launch", "open", "inaugur", "found", "establish",
                     "form", "creat", "origin"}),
          frozenset({"build", "built", "construct", "erect", "complet"}),
          frozenset({"invent", "develop", "patent", "design", "devis", "introduc"}),
          frozenset({"end", "finish", "conclud", "ceas", "dissolv", "disband"}),
          frozenset({"fall", "fell", "fallen", "collaps", "destroi", "demolish"}),
          frozenset({"discov", "identifi", "detect", "describ"}),
          frozenset({"releas", "publish", "premier", "debut"}))


# a follow-up of one word that asks when or why ("When?", "And why?"), and a question for who did
# something whose deed and object it asks of
_BARE_WHEN_OR_WHY = re.compile(r"^\W*(?:and\s+|so\s+|but\s+)?(when|why)(?:\s+exactly)?\W*$", re.IGNORECASE)
_WHO_DID = re.compile(r"^\W*who\s+(?!(?:is|was|are|were|do|does|did|has|have|had|will|would|can|could)\b)"
                      r"([a-z]+)\s+(.+?)\W*$", re.IGNORECASE)


def completed_question(turns: Sequence[str]) -> str | None:
    """A bare "When?" or "Why?" (the last of the dialogue's `turns`) completed by the
    speaker's question before it for who did something, or where, how or why something
    was done: "Who discovered penicillin?" ... "When?" -> "When was penicillin
    discovered?", "Where did it start?" ... "When?" -> "When did it start?", "Who built
    it?" ... "Why?" -> "Why was it built?", the question the checks read. None for any
    other message or question before it. Asked "Why?" after "Who built it?" of the
    Colosseum, the chat said Rome's "... often referred to as the "City of Seven Hills" due
    to its geography", a reason, but not for its building."""
    bare = _BARE_WHEN_OR_WHY.match(turns[-1]) if len(turns) >= 3 else None
    if not bare or "?" not in turns[-3]:
        return None
    word = bare.group(1).capitalize()
    m = _WHO_DID.match(turns[-3])
    if m:
        return f"{word} was {m.group(2)} {_participle(m.group(1))}?"
    m = _ASKED_OF_A_DEED.match(turns[-3])
    return f"{word} {m.group(1)}?" if m else None


def _participle(verb: str) -> str:
    """The past participle of an irregular verb's form (`_IRREGULAR_VERBS`: "gave" ->
    "given", "built" -> "built"); any other verb as it is ("discovered")."""
    forms = next((f.split() for f in _IRREGULAR_VERBS if verb.lower() in f.split()), None)
    return forms[-1] if forms else verb


# a question for where, how or why a deed was done: "Where did it start?" -> "When did it start?"
_ASKED_OF_A_DEED = re.compile(r"^\W*(?:where|how|why)\s+((?:did|does|do|was|were)\s+[^?]+?)\W*$", re.IGNORECASE)


def tells_another_deed(reply: str, message: str) -> bool:
    """Whether `reply`, to a question for the date of a deed (the question's last lowercase
    word: "When did the Berlin Wall fall?"), tells the date of another: it says none of the
    words its deed is told in (`_DEEDS`, `_held_stems`) and some of another's. Asked "When
    did the Berlin Wall fall?", the chat said "Construction of the Berlin Wall was
    commenced by the government of the GDR on 13 August 1961.", the date of its building.
    A deed not among them ("When did it come out?") is not checked: people answer such
    questions in words of their own ("It was released in May, 1997.")."""
    from rag_dialogue.grounded_numbers import asked_number

    asking = _asking(message or "")
    if asked_number(asking) != "date" or metrics.declines(reply or ""):
        return False
    stems = [s for w in metrics.uncapitalised_words(asking)[-1:] for s in _stems(w)]
    deed = _VERB_FORMS.get(stems[-1], stems[-1]) if stems else None
    asked = next((family for family in _DEEDS if deed in family), None)
    if asked is None:
        return False
    held = set(_stems(reply))
    told = held | {_VERB_FORMS.get(h, h) for h in held}
    return not (_held_stems({deed}, held) or told & asked) and any(told & family for family in _DEEDS)


def echoes_the_question(reply: str, message: str, passages) -> list[str] | None:
    """The words of a yes-no question about the world (not the listener: "Do you like
    it?") that `reply` says back and no passage ((title, text) pairs) holds, by stem: a
    question is no fact said. Asked "Do they ever sleep?" of bees, with passages on their
    colonies, the chat said "Some species of bees are known to sleep, including honey bees,
    ...": the measure of support counts the question's "sleep" as the dialogue's. None
    where there is none."""
    asking = _asking(message or "")
    if not (asking and _ASKS_YES_NO.match(asking)) or asks_the_listener(asking) or metrics.declines(reply or ""):
        return None
    held = _passage_stems(passages)
    said_back = set(_stems(asking)) & set(_stems(reply or ""))
    return sorted(word for word in said_back if not _held_stems({word}, held)) or None


_YES_OR_NO = re.compile(r"^\W*(?:yes|yeah|yep|yup|no|nope|not really)\b", re.IGNORECASE)
# a yes said otherwise: to "Did she have children?", "Sure! She died in 1994 ..." (to a polite
# frame, "Have you heard of cashew?", it says only that the chat will tell)
_AGREES = re.compile(r"^\W*(?:sure|of course|certainly|definitely|absolutely)\b", re.IGNORECASE)
# a request put as a question ("Can you tell me about it?"), which "Sure!" answers
_REQUEST = re.compile(r"^\W*(?:(?:can|could|would|will)\s+(?:you|u)|(?:can|could|shall|may)\s+(?:we|i))\b",
                      re.IGNORECASE)  # "Can you tell me ...?", "Can we talk about ...?"


def unsupported_answer_word(reply: str, message: str, passages) -> bool:
    """Whether `reply` answers a yes-no question about the world with "Yes" or "No" and
    then says none of what the question asks of its subject (its words beyond the
    passages' titles and the names it asks about, by stem), nor does any passage: the "Yes"
    rests on nothing. Asked "Can they fly?" of penguins, "flightless" in the first passage,
    the chat said "Yes, highly adapted for life in the ocean water, penguins have
    countershaded dark and white plumage and flippers for swimming." """
    asking = _asking(message or "")
    answers = _YES_OR_NO.match(reply or "") or (_AGREES.match(reply or "") and without_polite_frame(asking) == asking)
    if not (asking and _ASKS_YES_NO.match(asking) and answers) or asks_the_listener(asking) or _REQUEST.match(asking):
        return False
    titles = {stem for title, _ in passages for stem in _stems(title)}
    asked_of = set(_stems(asking)) - titles - _name_stems(named_terms(asking))
    held = {stem for title, text in passages for stem in _stems(text)} | set(_stems(reply))
    return bool(asked_of) and not _held_stems(asked_of, held)


def misses_the_question(reply: str, message: str, passages, said=()) -> bool:
    """True when `reply` does not answer the question `message` (`asks_for_fact`), though
    its passages ((title, text) pairs) may hold every word of it:

    - it reads out a passage sentence (`metrics.reads_out`) and holds none of the words
      asked (by stem; the read-out passage's title counts, as "It feeds mainly on snails"
      speaks of its glassfin eel), or, to "What ...?" or a yes-no question, none of what it
      asks of its subject (the words beyond the title and the names asked about: "What did
      the Romans eat?" -> Roman mythology's "... the body of myths of ancient Rome ...";
      read out with words left out too: "What do bees eat?" -> "I know that bees are
      winged insects ..."). Asked "What was the biggest one?" about dinosaurs, the
      chat read out "They became the dominant terrestrial vertebrates ..."; "whats ur
      favorite movie" got "Ur was a major Sumerian city-state ...";
    - it reads one out while the sentence the chat would answer with instead
      (`passage_reply`, repeating no turn of `said`) holds more of the words asked: "What
      is Tarnwick known for?" -> "Tarnwick is a market town in the province of Oldmere.",
      with "Tarnwick is known for its weekly cheese market" retrieved;
    - it says a passage sentence again in other words (`_paraphrased`), that sentence holds
      at most all but two of the words asked, and the sentence the chat would answer with
      instead holds every one: "What language do they speak in Brazil?" -> "Brazil is a
      federation of 26 states ...", with "... the only Portuguese-speaking country in the
      Americas, where it is the official language" retrieved ("Why ...?" is left out: a
      reason need not repeat the question's words);
    - read out or said again, to "Where ...?" or "Which river ...?", it names nothing the
      dialogue has not, where the sentence that would answer does ("Individuals can live
      for more than 120 years." to "Where does the mossback tortoise live?"), or, to
      "Which river ...?", no river by a name that says so ("River Teme"), where that
      sentence does;
    - asked for a superlative, it gives one of a place the question does not name
      (`_scoped_elsewhere`: "Seychelles is the smallest country in Africa ..." to "What is
      the smallest country in the world?");
    - asked for a superlative, it reads out or says again a passage sentence that says none
      ("Who was the tallest president of the United States?" -> "During Barack Obama's
      campaign for president in 2008, ..."), or gives it
      only ranked (`_ranks_the_superlative`: "Mount
      Kenya is the second highest mountain in Africa" to "What's the tallest mountain in
      Africa?");
    - to "What is the A of B?", it does not relate A to B (`metrics.relates`), read out or
      not, or only in the past (`metrics.relation_in_past`): "Melbourne is the capital ...
      of the Australian state of Victoria ..." names a capital, not Australia's;
      "... Mitterrand was President of France from 1981 to 1995" a past president;
    - to "Who ...?" that points back to nothing, it reads a sentence out that holds not
      all the words asked (all but one of four or more; the verb right after "who" may be
      said otherwise), its passage's title counted:
      "Who invented the car?" -> "The first electromagnetic generator, the Faraday disk,
      was invented in 1831 by British scientist Michael Faraday.";
    - asked how or where someone died or was born, it does not speak of that event
      (`grounded_numbers.holds_the_event`): "How did she die?" of Cleopatra -> "A member of
      the Ptolemaic dynasty, she was a descendant of its founder Ptolemy I ...".

    A question for a number is left to the number's checks (`grounded_numbers`); one for a
    fact put politely to the listener ("Do you know where it originated from?" -> "Pizza
    was invented in Naples"), one for anything more ("What else?"), and a reply that opens
    with "Yes" or "No" are answered as they are."""
    from rag_dialogue.grounded_numbers import asked_number, holds_the_event

    if not asks_for_fact(message or "") or asked_number(message) is not None or _ASKS_POLITELY.search(message):
        return False
    if not metrics.declines(reply or "") and not holds_the_event(reply, message, [*said, *(t for t, _ in passages)]):
        return True  # "How did she die?" -> "... she was a descendant of its founder Ptolemy I"
    sources = [(title, text) for title, text in passages if metrics.reads_out(reply, text)]
    titles = " ".join(title for title, _ in sources)
    listener = asks_the_listener(message)
    relation = None if listener else metrics.asked_relation(message)
    if relation and (not metrics.relates([(titles, reply)], *relation) or metrics.relation_in_past(reply, message)):
        return True
    if _scoped_elsewhere(reply, message, said) or (not _ASKS_YES_NO.match(message)
                                                    and _ranks_the_superlative(reply, message)):
        return True  # "what's the tallest mountain in africa" -> "Mount Kenya is the second highest ..."
    asking = without_polite_frame(_asking(message) or message)
    asked = _asked_stems(message)  # not "ur" of "ur favorite", "heard" of "Have you heard of"
    if not asked or _ASKS_ANYTHING.search(message) or _ANSWER_WORD.match(reply or ""):
        return False
    if (leaves_out_superlative(reply, message) or ranks_another(reply, message)) \
            and (sources or _paraphrased(reply, passages)):
        return True  # "Who was the tallest president ...?" -> "During Barack Obama's campaign ..."
    if sources:
        held = _held_stems(asked, set(_stems(f"{titles} {reply}")))
        # what it asks of its subject (the read-out passage's title, the names it asks about)
        asked_of = asked - set(_stems(titles)) - _name_stems(named_terms(message))
        if not held or (asked_of and not held & asked_of and _ASKS_WHAT.match(asking) and not listener
                        and not any(_held_stems(asked, set(_stems(turn))) == asked for turn in said)):
            return True  # (a question a turn answered before may be answered in other words)
        # the verb of "Who <verb> ...?" may be said in other words ("established" for "founded")
        verb = _WHO_VERB.match(asking)
        verb_stems = _stems(verb.group(1)) if verb else []
        # ... and a year may fall in a range ("in 1990" of "from 1981 to 1995")
        of_whom = {w for w in asked if not metrics.is_number(w)} - set(verb_stems[:1])
        if (_ASKS_WHO.match(asking) and not listener and not _POINTS_BACK.search(asking)
                and len(of_whom - held) > (1 if len(of_whom) >= 4 else 0)):
            return True  # "Who invented the car?" -> "... the Faraday disk, was invented in 1831 by ..."
    else:
        # a reply in other words than its passage sentence is judged by that sentence: what
        # it holds of the question, against the sentence that would answer instead
        source = None if _ASKS_WHY.match(message) else _paraphrased(reply, passages)
        if source is None:
            return False
        held = _held_stems(asked, set(_stems(" ".join(source))))
        # to "What ...?", one that says none of what it asks of its subject, as a read-out
        # above: "What do bees eat?" -> "I know that bees are winged insects that form a
        # monophyletic clade ..." (the passage's sentence with a few words left out)
        asked_of = asked - set(_stems(source[0])) - _name_stems(named_terms(message))
        if (asked_of and _paraphrased(reply, passages, share=_NEARLY_READ_OUT) == source
                and not _held_stems(asked_of, set(_stems(f"{source[1]} {reply}"))) and _ASKS_WHAT.match(asking)
                and not listener and not any(_held_stems(asked, set(_stems(turn))) == asked for turn in said)):
            return True
        # ... and one that keeps its sentence's words but what it asks ("drummers")
        verb = _WHO_VERB.match(asking)
        kept = _held_stems(asked, set(_stems(f"{source[0]} {reply}")))
        dropped = held - kept - set(_stems(verb.group(1) if verb else ""))
    instead = passage_reply(passages, said, message)
    if not instead or names_no_one(instead, message, [text for _, text in passages]):
        return False
    dialogue = list(said) + [message]
    named = _names_beyond(instead, dialogue) if _ASKS_FOR_A_NAME.match(message) else set()
    if named and not _names_beyond(reply, dialogue) and not named & set(_stems(reply)):
        return True  # "Which river ...?" answered without naming one, where a passage names it
    kind = _ASKS_WHICH.match(message)
    if kind and _names_a(kind.group(1), instead) and not _names_a(kind.group(1), reply):
        return True  # a name, but not a river's: "... crossed the river since the Middle Ages"
    # the sentence's passage title counts for it as for the reply
    titled = " ".join(title for title, text in passages if instead.split(": ", 1)[-1] in text)
    answered = _held_stems(asked, set(_stems(f"{titled} {instead}")))
    if sources:
        return len(answered) > len(held)
    return (len(held) <= len(asked) - 2 and answered == asked) or bool(dropped and held <= answered)


def _asked_stems(message: str) -> set:
    """The stems of the words the question `message` asks (not its polite frame, not "you")."""
    return set(_stems(_TO_THE_LISTENER.sub(" ", without_polite_frame(_asking(message) or message))))


def holds_some_asked(sentence: str, message: str) -> bool:
    """Whether `sentence` holds a word the question `message` asks (`_held_stems`)."""
    return bool(_held_stems(_asked_stems(message), set(_stems(sentence))))


def leaves_out_the_answer(reply: str, message: str, passages) -> str | None:
    """The passage sentence whose opening `reply` reads out word for word, leaving out a
    part of it that holds more of the words the question `message` asks (`_held_stems`);
    else None. Asked "When did people first land on it?" of the Moon, the chat said "The
    first human-made object to touch the Moon was Luna 2 in 1959.", of "..., and the first
    crewed mission to land on the Moon was Apollo 11 in 1969." """
    if not asks_for_fact(message or "") or metrics.declines(reply or ""):
        return None
    asked = _asked_stems(message)
    said = metrics.normalize(_TITLED.sub("", reply or "")).split()
    if not asked or len(said) < 4:
        return None
    held = len(_held_stems(asked, set(_stems(reply))))
    for title, text in passages:
        for sentence in metrics.passage_sentences(text):
            words = metrics.normalize(sentence).split()
            if len(words) > len(said) and words[:len(said)] == said \
                    and len(_held_stems(asked, set(_stems(sentence)))) > held:
                return sentence
    return None


# "What ...?", "Where ...?" and yes-no questions, whose answer says again what they ask of
# their subject ("Who founded it?" is answered by "... established a brewery")
_ASKS_WHAT = re.compile(rf"^\W*(?:what|whats|where|{_YES_NO_WORDS})\b", re.IGNORECASE)
# a question whose answer is a name: "Where ...?", "Which river ...?" (not "Which is ...?")
_NOT_A_KIND = r"(?!(?:is|are|was|were|one|ones|of|do|does|did)\b)"
_ASKS_FOR_A_NAME = re.compile(rf"^\W*(?:where\b|which\s+{_NOT_A_KIND}\w+)", re.IGNORECASE)
_ASKS_WHICH = re.compile(rf"^\W*which\s+{_NOT_A_KIND}([a-z]+)", re.IGNORECASE)
# a run of capitalised words, "of" and "the" inside it: "River Teme", "Mount Sarrow", "Bay of Biscay"
_NAME_RUN = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of\s+(?:the\s+)?)?[A-Z][\w'-]*)+")


def _names_a(kind: str, text: str) -> bool:
    """Whether `text` names a `kind` of thing by a name that holds the kind's word ("River
    Teme", "the Ulva River" for a river; "Mount Sarrow" for a mountain)."""
    word = metrics.stem(kind)
    kinds = {word, *_SAID_AS.get(word, ())}
    return any({metrics.stem(w) for w in run.lower().split()} & kinds for run in _NAME_RUN.findall(text or ""))


def _names_beyond(text: str, dialogue) -> set:
    """The stems of the names in `text` (capitalised words inside a sentence) that no turn
    of `dialogue` holds."""
    known = {stem for turn in dialogue for stem in _stems(turn)}
    return {metrics.stem(w) for w in metrics.name_words(text)} - known

