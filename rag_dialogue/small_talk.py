"""What a chat says to a message that only greets, thanks or takes leave, says how the
speaker feels, or asks what is happening now.

"hi" has nothing to retrieve for: the retriever still returns passages (Greeting's "Greetings
exist in all known human cultures."), and the generator lectures from them or makes
something up ("thanks" got "I know that is a Ukrainian-born Russian painter and musician.").
A person answers such a message in kind, so the chat does, without generating. A message
that says anything more ("Hi, I'm planning a trip to Japan.") is answered as any other.
"""

import re

# phrases of each kind, longest first within a kind; matched on lowercased words
_KINDS = (
    ("how", ("how are you doing", "how are you", "how is it going", "how's it going", "hows it going",
             "how do you do", "what's up", "whats up")),
    ("thanks", ("thank you very much", "thank you so much", "thanks a lot", "thank you", "thanks", "thx",
                "cheers")),
    ("bye", ("see you later", "see you", "good night", "goodbye", "good bye", "bye bye", "bye", "farewell",
             "take care")),
    ("greeting", ("good morning", "good afternoon", "good evening", "hello", "hiya", "howdy", "hey", "hi",
                  "greetings", "yo")),
    ("bored", ("i'm so bored", "i am so bored", "im so bored", "i'm bored", "i am bored", "im bored", "so bored",
               "bored")),
)
# words that may come with them and say nothing more ("Hi there!", "Hello again", "today")
_FILLER = frozenset("there again today all everyone you friend bot mate ok okay oh well so and".split())

REPLIES = {
    "how": "I'm fine, thanks. What would you like to talk about?",
    "thanks": "You're welcome!",
    "bye": "Goodbye! It was nice talking to you.",
    "greeting": "Hi! What would you like to talk about?",
    "bored": "Let's talk, then! What are you interested in?",
}


# a question about the present moment: what is happening now is in no passage it has read
_NOW = re.compile(r"\b(?:today|tonight|tomorrow|right now|at the moment|this (?:morning|afternoon|evening|week|"
                  r"weekend)|what time is it|what(?:'s| is) the (?:time|date)|what day is it)\b", re.IGNORECASE)
_ASKS = re.compile(r"\?|^\s*(?:who|what|when|where|which|why|how|is|are|will|do|does)\b", re.IGNORECASE)
NOT_NOW = "I can't say: I know what I have read, not what is happening now."


def about_the_moment(message: str) -> str | None:
    """`NOT_NOW` for a question about the present moment that is not about the listener
    ("What's the weather like today?", "What time is it?"), else None: the retriever still
    finds passages (Weather's "Weather is the state of the atmosphere ..."), and none says
    what is happening now. A request for advice is not about the moment
    (`asks_for_advice`: "What's a good movie to watch tonight?")."""
    from rag_dialogue.abstain import asks_the_listener

    message = message or ""
    if _NOW.search(message) and _ASKS.search(message) and not asks_the_listener(message) \
            and not asks_for_advice(message):
        return NOT_NOW
    return None


# a judgement of taste: "Who is the best player ever?" (not "the best-selling album")
_JUDGEMENT = re.compile(r"^\W*(?:who|what|which)(?:'s|’s|\s+is|\s+are|\s+was|\s+were)?\s+(?:the\s+)?(?:best|worst)"
                        r"(?![\w-])(?!\s+man\b)", re.IGNORECASE)
# a question for a recommendation or advice, or a judgement: taste, which the chat has none of
_ADVICE = re.compile(r"\b(?:recommend|suggest|suggestions?|tips|advice)\b|"
                     r"^\W*(?:what|which)(?:'s|’s|\s+is|\s+are)?\s+(?:a\s+|some\s+)?(?:good|great|nice|best)\s+\w+"
                     r"\s+(?:to|for)\b|" + _JUDGEMENT.pattern, re.IGNORECASE)
NO_TASTE = "I can't recommend anything myself, but I can tell you what I have read. What would you like to know?"
NO_OPINION = ("People's views on that differ, and I have none of my own, but I can tell you what I have read. "
              "What would you like to know?")


# a question for the chat's own favourite: "What's your favourite colour?", "whats ur fave food"
_ITS_FAVOURITE = re.compile(r"\b(?:your|ur|yr)\s+(?:very\s+)?(?:favou?rite|fave|fav)\b", re.IGNORECASE)


def asks_its_favourite(message: str) -> str | None:
    """`abstain.OF_ITSELF` for a message whose questions all ask the chat's favourite, else
    None: it has none, and its generator made one up ("What's your favourite colour?" ->
    "In the RGB colour model, yellow is the colour of the spectrum.")."""
    from rag_dialogue.abstain import _SENTENCE, OF_ITSELF, asks_for_fact

    asking = [s for s in _SENTENCE.split(message or "") if s.strip() and asks_for_fact(s)]
    return OF_ITSELF if asking and all(_ITS_FAVOURITE.search(s) for s in asking) else None


def asks_for_advice(message: str) -> str | None:
    """`NO_TASTE` for a message whose questions all ask what to choose ("What's a good movie
    to watch tonight?", "Can you recommend a good book?", "Any tips?"), `NO_OPINION` where
    they ask who or what is best ("Who is the best player ever?" got "He was named the NBA
    Most Valuable Players."), else None: the chat has no taste of its own, and its passages
    answered with what a book is ("Books are broadly classified into fiction and
    non-fiction")."""
    from rag_dialogue.abstain import _SENTENCE, asks_for_fact

    sentences = [s for s in _SENTENCE.split(message or "") if s.strip()]
    asking = [s for s in sentences if asks_for_fact(s) or _ADVICE.search(s)]
    if not (asking and all(_ADVICE.search(s) for s in asking)):
        return None
    return NO_OPINION if all(_JUDGEMENT.search(s) for s in asking) else NO_TASTE


UNCLEAR = "What would you like to know about?"


def unclear_opening(message: str) -> str | None:
    """`UNCLEAR` for a conversation's first message that says nothing to talk about ("why?",
    "what?", "hmm"): the retriever still finds passages, and the generator talks about them
    ("why?" got "Most animal caches are of the fish."); else None."""
    from rag_dialogue.abstain import asks_the_listener
    from rag_dialogue.metrics import content_words

    message = (message or "").strip()
    if message and not content_words(message) and not kinds_of(message) and not asks_the_listener(message):
        return UNCLEAR
    return None


def kinds_of(message: str) -> list:
    """The kinds of small talk (`REPLIES`' keys) `message` is made of, in the order of
    `_KINDS`; [] when it says anything else."""
    text = " ".join(re.findall(r"[a-z']+", (message or "").lower().replace("’", "'")))
    found = []
    for kind, phrases in _KINDS:
        for phrase in phrases:
            text, n = re.subn(rf"(?<!\S){re.escape(phrase)}(?!\S)", " ", text)
            if n and kind not in found:
                found.append(kind)
    return found if found and not set(text.split()) - _FILLER else []


# how the speaker feels, and nothing more: "I'm so tired today." got Fatigue (material)'s
# "... fatigue is the initiation of cracks in a material due to cyclic loading."
_LOW = ("tired", "exhausted", "sleepy", "sad", "down", "lonely", "sick", "ill", "stressed", "anxious", "worried",
        "upset", "angry", "annoyed", "frustrated", "depressed", "miserable", "unhappy", "awful", "terrible")
_HIGH = ("happy", "excited", "great", "good", "glad", "fine", "well", "awesome", "fantastic", "wonderful",
         "cheerful", "relaxed")
_FEELING = re.compile(
    r"^\W*(?:(?:oh|well|ugh|man|wow)\W+)?(?:(?:i['’]?m|i am)(?:\s+feeling)?|i feel|feeling)\s+"
    r"(?:so|really|very|a bit|a little|kind of|kinda|pretty|quite|super|extremely|totally)?\s*"
    rf"({'|'.join(_LOW + _HIGH)})(?:\s+(?:and\s+)?(?:{'|'.join(_LOW + _HIGH)}))?"
    r"(?:\s+(?:today|tonight|now|right now|lately|this morning|this evening|these days))?\W*$", re.IGNORECASE)
FEELING_REPLIES = {
    "low": "I'm sorry to hear that. I hope it gets better. Would you like to talk about something?",
    "high": "Glad to hear it! What would you like to talk about?",
}


def feeling_reply(message: str) -> str | None:
    """The chat's reply to a message that only says how the speaker feels ("I'm so tired
    today.", "I feel great!"), else None."""
    m = _FEELING.match(message or "")
    if not m:
        return None
    return FEELING_REPLIES["low" if m.group(1).lower() in _LOW else "high"]


def reply_to(message: str) -> str | None:
    """The chat's reply to a message of small talk only, else None: a question how it is
    goes first ("Hi, how are you?" -> "I'm fine, thanks. ..."), then thanks, leave,
    greeting, and how the speaker feels (`feeling_reply`)."""
    kinds = kinds_of(message)
    return REPLIES[kinds[0]] if kinds else feeling_reply(message)
