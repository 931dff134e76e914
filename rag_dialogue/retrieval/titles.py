"""The passages of the articles a message names, found by title beside the dense search.

The dense search finds passages that read like the message, and an article's own
sentences may rank far below others that share a word with it: "How many works did Mozart
complete?" found Symphony No. 41's passages and Johannes Brahms's works, and no sentence
of Wolfgang Amadeus Mozart's article among its 40 best. The article's passages are then
candidates too, scored by the same inner product, so the name bonus can rank them.
"""

from collections import defaultdict

from rag_dialogue.abstain import _PARENTHESIS, _is_common, _stems, is_about, is_everyday, same_thing
from rag_dialogue.metrics import content_words, stem

# a store larger than this gets no title table: reading every title of Wikipedia's 21M
# passages takes minutes and a few GB, where the dense search alone serves
MAX_ROWS = 2_000_000
# per name, the shortest titles about it ("Mozart": "Leopold Mozart", "Wolfgang Amadeus Mozart")
TITLES_PER_NAME = 3
# per title, its first passages (an article's lead comes first)
ROWS_PER_TITLE = 64


def looked_up(name: str) -> bool:
    """Whether a name is looked up by title: not an everyday lowercase word ("planet",
    "works"), whose articles would add passages about the word itself."""
    return not is_everyday(name)


class TitleRows:
    """Rows of a passage store by title, found from the stems of the title's words; empty
    for a store of more than MAX_ROWS passages (`enabled` says which)."""

    def __init__(self, store):
        self.rows_of = defaultdict(list)  # title -> its rows, in file order
        self.titles_with = defaultdict(set)  # stem of a title word -> the titles with it
        self.enabled = len(store) <= MAX_ROWS
        if not self.enabled:
            return
        for row, passage in enumerate(store):  # a sequential scan: the cache is left alone
            rows = self.rows_of[passage.title]
            if not rows:
                for s in _stems(_PARENTHESIS.sub("", passage.title)):
                    self.titles_with[s].add(passage.title)
            if len(rows) < ROWS_PER_TITLE:
                rows.append(row)

    def titles_about(self, name: str) -> list:
        """The TITLES_PER_NAME shortest titles about `name` (`abstain.is_about`): titles that
        hold every word of it that is not an everyday word, or whose words it holds."""
        stems = [stem(w) for w in content_words(name) if not _is_common(w)] or _stems(name)
        if not stems:
            return []
        found = set.intersection(*(self.titles_with.get(s, set()) for s in stems))
        about = sorted((t for t in found if is_about([name], t)), key=lambda t: (len(t), t))
        return about[:TITLES_PER_NAME]

    def rows_named(self, name: str) -> list:
        """The rows of the articles titled `name`, but for a plural or a parenthesis
        (`abstain.same_thing`: "Black hole" for "black holes", not "Capitalism" for
        "capital")."""
        return [row for title in self.titles_about(name) if same_thing(_PARENTHESIS.sub("", title), name)
                for row in self.rows_of[title]]

    def rows_for(self, names) -> list:
        """The rows of the articles the `names` are about (`titles_about`), each row once."""
        rows = []
        for name in names:
            if looked_up(name):
                for title in self.titles_about(name):
                    rows.extend(self.rows_of[title])
        return list(dict.fromkeys(rows))
