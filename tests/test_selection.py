"""Knowledge selection: the query encoder learns to rank the wizard's gold sentence first."""


import numpy as np
import pytest
import torch

from rag_dialogue.retrieval.query import distinct_first, fresh_first
from rag_dialogue.retrieval.dialogues import SelectionExample, dialogue_examples
from rag_dialogue.retrieval.gold import selection_loss
from rag_dialogue.retrieval.selection import Selector, train_query_encoder
from tests.conftest import write_article_dialogues


def test_retrieval_passes_over_passages_the_dialogue_already_holds():
    texts = ("Bermuda is a British Overseas Territory.", "Its capital is Hamilton.",
             "It lies in the North Atlantic.", "The island was settled in 1612.")
    said = "Bermuda\nWhat is Bermuda?\nWell, bermuda is a British overseas territory!\nTell me more."
    assert fresh_first(np.array([0, 1, 2, 3]), said, texts.__getitem__, 2).tolist() == [1, 2]
    # a paraphrase of a passage counts as said too
    said = "Tell me about it.\nSure! Bermuda is a British island territory.\nAnd?"
    assert fresh_first(np.array([0, 1, 2, 3]), said, texts.__getitem__, 2).tolist() == [1, 2]
    # nothing new among the candidates: the best ones are kept rather than nothing
    assert fresh_first(np.array([0, 0]), said, texts.__getitem__, 2).tolist() == [0, 0]


class _FixedSearch:
    """A retriever whose dense search finds `passages` ((title, text) pairs) in their order,
    with `scores`, for every query; `asked` records each search's k."""

    def __init__(self, passages, scores):
        from types import SimpleNamespace

        self.store = [SimpleNamespace(title=t, text=x) for t, x in passages]
        self.scores, self.asked = scores, []

    def search_embeddings(self, query_emb, k):
        self.asked.append(k)
        return np.array([self.scores] * len(query_emb), dtype=np.float32), \
            np.array([list(range(len(self.scores)))] * len(query_emb))


def test_retrieval_ranks_first_the_passages_of_what_the_message_names():
    """"What is the atmosphere of Mars made of?": the dense scores put Earth's atmosphere
    first; a passage of the article the question names gains NAME_BONUS, in rank and score."""
    from rag_dialogue.retrieval.query import NAME_BONUS
    from rag_dialogue.retrieval.retriever import NAMED_SLACK, SEARCH_SLACK, search_fresh

    passages = [("Atmosphere of Earth", "The atmosphere of Earth is a layer of gas."),
                ("Nitrogen", "N2 forms about 78% of Earth's atmosphere."),
                ("Mars", "Mars has a tenuous atmosphere that is primarily carbon dioxide."),
                ("Venus", "Venus has a thick atmosphere.")]
    retriever = _FixedSearch(passages, [12.4, 11.1, 9.1, 8.0])
    asked = retriever.asked
    queries = np.zeros((2, 4), dtype=np.float32)
    rows, bonus = search_fresh(retriever, queries, 2, names=[["Mars"], []])
    assert rows.tolist() == [[2, 0], [0, 1]]  # the second example names nothing: dense order
    assert bonus.tolist() == [[1.5 * NAME_BONUS, 0.0], [0.0, 0.0]]  # held, and the title is the name
    assert asked == [2 + NAMED_SLACK]
    rows, bonus = search_fresh(retriever, queries, 2, names=None)
    assert rows.tolist() == [[0, 1]] * 2 and not bonus.any() and asked[-1] == 2 + SEARCH_SLACK


def test_a_lowercase_word_the_vocabulary_knows_ranks_a_passage_only_by_its_title():
    """"What's the tallest mountain in the world?": Mount Tai's "The tallest peak ..."
    held "tallest" and passed Mount Everest's sentence, which the dense search ranked
    first. A lowercase word the query encoder's vocabulary knows counts only as a
    passage's title; one it does not know ("quindle") names a thing wherever it is written."""
    from types import SimpleNamespace

    from conftest import _minilm_tokenizer

    from rag_dialogue.abstain import retrieval_names
    from rag_dialogue.retrieval.query import NAME_BONUS
    from rag_dialogue.retrieval.retriever import search_fresh

    passages = [("Mount Everest", "Mount Everest is the highest mountain on Earth above sea level."),
                ("Mount Tai", "The tallest peak is the Jade Emperor Peak."),
                ("Sports", "A quindle team has nine players.")]
    retriever = _FixedSearch(passages, [12.0, 10.5, 9.0])
    queries = np.zeros((1, 4), dtype=np.float32)
    tallest = ["tallest", "mountain", "world"]  # names a message could give (a superlative's are left out)
    rows, _ = search_fresh(retriever, queries, 3, names=[tallest])
    assert rows.tolist() == [[1, 0, 2]]  # without a vocabulary, every rare word counts where it is written
    retriever.query_encoder = SimpleNamespace(tokenizer=_minilm_tokenizer())
    rows, bonus = search_fresh(retriever, queries, 3, names=[tallest])
    assert rows.tolist() == [[0, 1, 2]] and not bonus.any()
    quindle = retrieval_names("How many players are on a quindle team?")
    rows, bonus = search_fresh(retriever, queries, 3, names=[quindle])
    assert rows.tolist() == [[2, 0, 1]] and bonus.tolist() == [[NAME_BONUS, 0.0, 0.0]]


def test_a_question_for_a_superlative_ranks_first_the_passage_that_gives_it():
    """"What is the fastest animal?" found Animal's passages first (the word "animal" as a
    title) and Huskies' "the fastest dogs"; the cheetah's "the fastest land animal" gains
    SUPERLATIVE_BONUS. A superlative of another place, ranked, or of a set gains nothing."""
    from rag_dialogue.abstain import retrieval_names, superlative_check
    from rag_dialogue.retrieval.query import SUPERLATIVE_BONUS
    from rag_dialogue.retrieval.retriever import search_fresh

    passages = [("Animal", "With few exceptions, animals are able to move."),
                ("Huskies", "They are a cross-breed of the fastest dogs."),
                ("Pronghorn", "It is the fastest land animal in the Americas."),
                ("Ostrich", "It is the second fastest animal on two legs."),
                ("Cheetah", "The cheetah is a pursuit predator and the fastest land animal.")]
    retriever = _FixedSearch(passages, [12.0, 11.0, 10.5, 10.0, 9.0])
    queries = np.zeros((1, 4), dtype=np.float32)
    asked = "What is the fastest animal?"
    assert retrieval_names(asked) == []  # not about the article Animal
    rows, bonus = search_fresh(retriever, queries, 3, names=[retrieval_names(asked)], questions=[asked])
    assert rows.tolist()[0][0] == 4 and bonus.tolist()[0][0] == SUPERLATIVE_BONUS
    # the place a question names must be the passage's
    rows, bonus = search_fresh(retriever, queries, 3, names=[["Americas"]],
                               questions=["What's the fastest animal in the Americas?"])
    assert rows.tolist()[0][0] == 2
    ranks = superlative_check("What's the tallest mountain in the world?")
    assert ranks("Mount Everest is Earth's highest mountain.") and ranks("It is the highest mountain on Earth.")
    for other in ("Denali is the highest mountain peak in North America.",
                  "Mount Elbrus is Europe's highest mountain.",
                  "K2 is the second-highest mountain.", "Nepal has eight of the world's ten highest mountains.",
                  "The Seven Summits are the highest mountains on each of the seven continents.",
                  "The highest point is Mount Dena."):
        assert not ranks(other), other
    popular = superlative_check("What's the most popular sport in the world?")
    assert popular("Played by 250 million players, it is the world's most popular sport.")
    assert not popular("Basketball is the most popular sport in Lithuania.")
    assert not popular("Cricket is the second-most popular sport.")
    assert superlative_check("What is the largest planet?")(
        "Jupiter is the fifth planet from the Sun, and the largest in the Solar System.")
    assert superlative_check("Who is the second tallest man?") is None
    assert superlative_check("I am the fastest.") is None  # asks nothing


def test_among_a_named_articles_passages_the_one_holding_what_is_asked_ranks_first():
    """"Who runs the Vantorel Observatory?": every passage of the observatory holds its name
    alike, and the dense search ranked its first sentence first; "... it has been run by
    the University of Tessingford" gains ASKED_BONUS. A passage that holds no name gains
    nothing for the asked word, nor does any passage for a question about the listener."""
    from rag_dialogue.abstain import asked_check
    from rag_dialogue.retrieval.query import ASKED_BONUS
    from rag_dialogue.retrieval.retriever import search_fresh

    passages = [("Vantorel Observatory", "The Vantorel Observatory is an observatory on Mount Crasken."),
                ("Vantorel Observatory", "Its main telescope has a mirror 3.2 metres across."),
                ("Marathon", "He runs every morning."),
                ("Vantorel Observatory", "Since 1978 it has been run by the University of Tessingford.")]
    retriever = _FixedSearch(passages, [12.0, 11.5, 11.2, 10.5])
    queries = np.zeros((1, 4), dtype=np.float32)
    asked = "Who runs the Vantorel Observatory?"
    names = [["Vantorel Observatory"]]
    rows, bonus = search_fresh(retriever, queries, 3, names=names)
    assert rows.tolist()[0][0] == 0
    rows, with_asked = search_fresh(retriever, queries, 3, names=names, questions=[asked])
    assert rows.tolist()[0][0] == 3 and with_asked[0][0] == bonus.max() + ASKED_BONUS
    rows, with_asked = search_fresh(retriever, queries, 4, names=names, questions=[asked])
    assert with_asked[0].tolist()[-1] == 0.0  # Marathon's "runs", without the name, gains nothing
    share = asked_check("What colour is the Tarnish fox's fur in winter?")
    assert share("Tarnish fox: Its fur grows thick in winter.") == 0.75  # "colour" is not said
    assert share("Tarnish fox: Its fur turns silver in winter.") == 1.0  # ... but a colour is
    assert share("Tarnish fox: It hunts voles.") == 0.25
    # the forms a question asks in count: an irregular verb, a derived word
    assert asked_check("Who founded it?")("The city's founder was Romulus.") == 1.0
    assert asked_check("Who wrote Nine Winters?")("It was written by Ilsa Varrow.") == 1.0
    for nothing in ("Do you like jazz?", "I love the Vantorel Observatory.", "Where is Paris?",
                    "How many works did Mozart complete?"):
        assert asked_check(nothing) is None, nothing


def test_a_question_for_what_a_thing_is_ranks_first_the_sentence_that_says_it():
    """"What is chess?" ranked "The objective of the game is to checkmate the enemy king."
    above "Chess is a board game ..."; the definition gains DEFINITION_BONUS. "What are
    black holes?" names no article by its words, and Black hole's passages join the dense
    search's by title. How a thing is ("Jazz is characterized by ...") or another thing
    ("A stellar black hole is ...") gains nothing, nor does a question for anything else."""
    from types import SimpleNamespace

    from rag_dialogue.abstain import common_thing, defined_subject, defines
    from rag_dialogue.retrieval.query import DEFINITION_BONUS
    from rag_dialogue.retrieval.retriever import search_fresh
    from rag_dialogue.retrieval.titles import TitleRows

    passages = [("Chess", "The objective of the game is to checkmate the enemy king."),
                ("Xiangqi", "Xiangqi is a strategy board game for two players."),
                ("Chess", "Chess is a board game for two players.")]
    retriever = _FixedSearch(passages, [12.6, 12.5, 12.4])
    queries = np.zeros((1, 4), dtype=np.float32)
    rows, bonus = search_fresh(retriever, queries, 3, names=[["chess"]], questions=["What is chess?"])
    assert rows.tolist()[0][:2] == [2, 0] and bonus[0][0] - bonus[0][1] == DEFINITION_BONUS
    rows, bonus = search_fresh(retriever, queries, 3, names=[["chess"]], questions=["Do you like chess?"])
    assert rows.tolist()[0][0] == 0 and bonus[0][0] == bonus[0][1]

    passages = [("Stellar black hole", "A stellar black hole is a black hole formed by a collapsing star."),
                ("Black", "Black is a colour."), ("Cat", "Cats are small mammals."),
                ("Black hole", "A black hole is a body whose gravity lets no light escape.")]

    class _WithTitles(_FixedSearch):
        def __init__(self, passages, scores):
            super().__init__(passages, scores)
            self.title_rows = TitleRows(self.store)
            self.index = SimpleNamespace(reconstruct=lambda rows: np.zeros((len(rows), 4), dtype=np.float32))

        def search_embeddings(self, query_emb, k):  # the dense search misses Black hole's article
            scores, rows = super().search_embeddings(query_emb, k)
            return scores[:, :3], rows[:, :3]

    retriever = _WithTitles(passages, [3.0, 2.0, 1.0, 0.0])  # (Black hole's joins at 0.0)
    rows, bonus = search_fresh(retriever, queries, 2, questions=["What are black holes?"])
    assert rows.tolist()[0][0] == 3 and bonus.tolist()[0][0] == DEFINITION_BONUS

    # "What is the capital?" after Japan asks for Japan's: in a follow-up, "the" and a common
    # noun bring in no article of that word (it got Capital (economics)'s first sentence)
    passages = [("Japan", "Tokyo is the country's capital and largest city."), ("Japan", "Japan is an island country."),
                ("Cat", "Cats are small mammals."), ("Capital (economics)", "Capital is a broad economic concept.")]
    retriever = _WithTitles(passages, [3.0, 2.0, 1.0, 0.0])
    asked = ["What is the capital?"]
    rows, _ = search_fresh(retriever, queries, 2, said=["I'm going to Japan next month!\nJapan is an island country."],
                           questions=asked)
    assert 3 not in rows.tolist()[0]
    for opening in ("", "What is the capital?"):  # asked first: what the word means
        rows, _ = search_fresh(retriever, queries, 2, said=[opening], questions=asked)
        assert rows.tolist()[0][0] == 3

    assert [defined_subject(m) for m in ("What is jazz?", "What are black holes?", "Who was Joan of Arc?",
                                         "Tell me about the Roman Empire.", "So what's a tsunami?",
                                         "What do you know about chess?")] == [
        "jazz", "black holes", "Joan of Arc", "the Roman Empire", "tsunami", "chess"]
    assert [common_thing(s) for s in ("the capital", "the sun", "the history of yoga", "The Sun", "capital",
                                      "the dinosaurs")] == [True, True, False, False, False, False]
    for other in ("What is the Moon made of?", "What is jazz like?", "What is it?", "Who are you?",
                  "What is your favourite food?", "Where is Paris?", "I love jazz.", "What is the biggest one?",
                  "What are some examples?", "What is the largest planet?"):
        assert defined_subject(other) is None, other
    for text, subject in (("A black hole is an astronomical body.", "black holes"),
                          ("An earthquake, also called a quake, is the shaking of the ground.", "earthquake"),
                          ("Yoga (Sanskrit) is a group of practices.", "yoga"),
                          ("The Amazon River in South America is the largest river.", "Amazon River"),
                          ("Zebras are African equines.", "zebra")):
        assert defines(text, subject), text
    assert defines("The Sun is the star at the centre of the Solar System.", "the sun")
    for text, subject in (("A stellar black hole is a black hole formed by a star.", "black holes"),
                          ("Jazz is characterized by swing and blue notes.", "jazz"),
                          ("The Roman Empire's army was a large force.", "Roman Empire"),
                          ("The Western Roman Empire collapsed in 476 AD.", "Roman Empire"),
                          ("Bees are found on every continent.", "bees"),
                          ("Capitalism is an economic system.", "capital"),  # one stem, another word
                          ("The capital is Avarua.", "the capital"),  # (after Japan) Japan's capital
                          ("Its capital was the city of Novgorod.", "the capital"),
                          ("Its capital was the city of Novgorod.", "capital")):
        assert not defines(text, subject), text


def test_a_question_says_no_fact_that_retrieval_passes_over():
    """The passage that answers "What is the largest lake in Kethmar?" holds most of its
    words; outside training the dialogue's questions are left out of what it has said."""
    from rag_dialogue.retrieval.query import fresh_first, without_questions

    passages = ["Lake Ostravel is the largest lake in Kethmar.", "Lake Ostravel is a freshwater lake in Kethmar."]
    said = "I love lakes.\nWhat is the largest lake in Kethmar?"
    assert without_questions(said) == "I love lakes.\n"
    assert fresh_first(np.arange(2), said, lambda r: passages[r], 2).tolist() == [1, 0]  # taken as said
    assert fresh_first(np.arange(2), without_questions(said), lambda r: passages[r], 2).tolist() == [0, 1]


def test_retrieval_keeps_to_the_topic_the_dialogue_opened_with():
    """Wizard of Wikipedia's first turn is the chosen topic: "Tell me more" about corgis
    finds another conversation's dog passage first by its dense score; the topic's own
    passage gains TOPIC_BONUS times the share of its title's words the first turn holds."""
    from rag_dialogue.retrieval.query import TOPIC_BONUS, topic_share
    from rag_dialogue.retrieval.retriever import search_fresh

    assert topic_share("Welsh Corgi\nI have two!", "Welsh Corgi") == 1.0
    assert topic_share("corgis", "Welsh Corgi") == 0.5  # by stem, case aside
    assert topic_share("Welsh Corgi", "The") == 0.0  # a title without content words gains nothing
    passages = [("Poodle", "The poodle is a dog breed."),
                ("Welsh Corgi", "The Pembroke is the more popular corgi."),
                ("Wales", "Wales is a country.")]
    retriever = _FixedSearch(passages, [12.0, 10.9, 10.5])
    queries = np.zeros((2, 4), dtype=np.float32)
    rows, bonus = search_fresh(retriever, queries, 3, topics=["Welsh Corgi", None])
    assert rows.tolist() == [[1, 0, 2], [0, 1, 2]]  # no topic: dense order
    assert bonus.tolist() == [[TOPIC_BONUS, 0.0, 0.0], [0.0, 0.0, 0.0]]
    # half the title's words: half the bonus, not enough to pass the dog passage 1.1 above
    rows, bonus = search_fresh(retriever, queries[:1], 3, topics=["corgi"])
    assert rows.tolist() == [[0, 1, 2]] and bonus.tolist() == [[0.0, TOPIC_BONUS / 2, 0.0]]


def test_retrieval_adds_the_passages_of_a_named_article_and_ranks_the_number_asked():
    """"How many works did Mozart complete?": the dense search found other articles'
    passages; the named article's join them (`TitleRows`), scored by the same inner
    product, and the one that gives a count of works gains NUMBER_BONUS more."""
    from types import SimpleNamespace

    from rag_dialogue.retrieval.query import NAME_BONUS, NUMBER_BONUS
    from rag_dialogue.retrieval.retriever import search_fresh
    from rag_dialogue.retrieval.titles import TitleRows

    passages = [("Johannes Brahms", "His works include four symphonies."),
                ("Symphony No. 41 (Mozart)", "Mozart completed it on 10 August 1788."),
                ("Wolfgang Amadeus Mozart", "Wolfgang Amadeus Mozart was a Classical composer."),
                ("Wolfgang Amadeus Mozart", "He completed more than 800 works in his life.")]
    vectors = np.array([[3.0, 0], [2.0, 0], [1.0, 0], [0.5, 0]], dtype=np.float32)

    class Index:
        def search_embeddings(self, query_emb, k):  # finds neither of Mozart's own passages
            return np.array([[3.0, 2.0]] * len(query_emb), dtype=np.float32), np.array([[0, 1]] * len(query_emb))

        def reconstruct(self, rows):
            return vectors[rows]

    retriever = Index()
    retriever.index = retriever
    retriever.store = [SimpleNamespace(title=t, text=x) for t, x in passages]
    retriever.title_rows = TitleRows(retriever.store)
    query = np.array([[1.0, 0]], dtype=np.float32)
    question = "How many works did Mozart complete?"
    rows, bonus = search_fresh(retriever, query, 3, names=[["Mozart", "works"]], questions=[question])
    # 0.5 + 4 + 2, then 2 + 4 (Symphony No. 41 holds "Mozart"), then 1 + 4
    assert rows.tolist() == [[3, 1, 2]]
    assert bonus.tolist() == [[NAME_BONUS + NUMBER_BONUS, NAME_BONUS, NAME_BONUS]]
    rows, _ = search_fresh(retriever, query, 3, names=[["Mozart", "works"]])
    assert rows.tolist() == [[1, 2, 3]]  # no question: the dense scores order the named passages
    del retriever.title_rows  # a retriever without the table (a remote one) searches as before
    assert search_fresh(retriever, query, 2, names=[["Mozart"]])[0].tolist() == [[1, 0]]


def test_title_rows_finds_the_articles_a_name_is_about(monkeypatch):
    from types import SimpleNamespace

    from rag_dialogue.retrieval import titles

    store = [SimpleNamespace(title=t, text="") for t in
             ["Wolfgang Amadeus Mozart", "Symphony No. 41 (Mozart)", "Leopold Mozart", "Planet",
              "Wolfgang Amadeus Mozart", "Mars", "Mars (mythology)"]]
    table = titles.TitleRows(store)
    assert table.titles_about("Mozart") == ["Leopold Mozart", "Wolfgang Amadeus Mozart"]  # shortest first
    assert table.rows_for(["Mozart", "Mars"]) == [2, 0, 4, 5, 6]
    assert table.rows_for(["planet"]) == []  # an everyday word is not looked up
    assert table.rows_for(["Vellmoor"]) == []
    monkeypatch.setattr(titles, "MAX_ROWS", 3)
    assert not titles.TitleRows(store).enabled and titles.TitleRows(store).rows_for(["Mars"]) == []


def test_retrieval_passes_over_a_text_it_already_has():
    from types import SimpleNamespace

    from rag_dialogue.retrieval.retriever import search_fresh

    # the same sentence under three titles, as Wizard of Wikipedia's knowledge holds it
    texts = ["The sky appears blue because of Rayleigh scattering.", "Blue is a primary colour.",
             "the sky appears blue because of rayleigh scattering", "Royal blue is a deep blue.",
             "The sky appears blue because of Rayleigh scattering!", "Navy blue is a dark blue."]
    assert distinct_first(np.array([0, 2, 1, 4, 3]), texts.__getitem__).tolist() == [0, 1, 3, 2, 4]

    class Index:
        def search_embeddings(self, query_emb, k):
            rows = np.array([[0, 2, 4, 1, 3, 5, -1, -1][:k]] * len(query_emb))
            return np.zeros(rows.shape, dtype=np.float32), rows

    retriever = Index()
    retriever.store = [SimpleNamespace(text=t) for t in texts]
    queries = np.zeros((2, 4), dtype=np.float32)
    assert search_fresh(retriever, queries, 3)[0].tolist() == [[0, 1, 3]] * 2
    said = ["What colour is the sky?", "Tell me about colours.\nBlue is a primary colour."]
    assert search_fresh(retriever, queries, 3, said)[0].tolist() == [[0, 1, 3], [0, 3, 5]]


def test_selection_loss_is_cross_entropy_towards_the_gold_and_skips_missing_gold():
    torch.manual_seed(0)
    query = torch.randn(3, 4, requires_grad=True)
    passages = torch.randn(3, 5, 4)
    targets = torch.tensor([2, -100, 0])
    loss = selection_loss(query, passages, targets)
    scores = torch.einsum("bd,bkd->bk", query, passages)
    expected = -(scores[0].log_softmax(0)[2] + scores[2].log_softmax(0)[0]) / 2
    assert torch.allclose(loss, expected)
    loss.backward()
    assert query.grad[1].abs().sum() == 0 and query.grad[0].abs().sum() > 0
    none = selection_loss(query, passages, torch.tensor([-100, -100, -100]))
    assert none.item() == 0.0 and none.requires_grad


def test_dialogue_examples_rebuild_the_history_as_parlai_joins_it(tmp_path):
    path = tmp_path / "dialogues.txt"
    path.write_text(
        "text:Bermuda\\nWhat is it?\tlabels:An island.\tchecked_sentence:Bermuda is an island.\ttitle:Bermuda\n"
        "text:Tell me more.\tlabels:Its capital is Hamilton.\tchecked_sentence:Its capital is Hamilton.\t"
        "title:Bermuda\tepisode_done:True\n"
        "text:Hi!\tlabels:Hello.\tchecked_sentence:no_passages_used\ttitle:no_passages_used\tepisode_done:True\n")
    examples = dialogue_examples({"task": "fromfile:parlaiformat", "fromfile_datapath": str(path),
                                  "datatype": "train", "datapath": str(tmp_path)})
    assert examples == [
        SelectionExample(("Bermuda", "What is it?"), "Bermuda", "Bermuda is an island."),
        SelectionExample(("Bermuda", "What is it?", "An island.", "Tell me more."), "Bermuda",
                         "Its capital is Hamilton."),
    ]


@pytest.fixture
def selector(tiny_index, tiny_encoder_dir):
    from rag_dialogue.retrieval.encoder import TextEncoder
    from rag_dialogue.retrieval.retriever import Retriever

    torch.manual_seed(0)
    return Selector(Retriever(tiny_index, TextEncoder(str(tiny_encoder_dir))), n_candidates=8)


def test_training_ranks_the_gold_first_and_saves_a_loadable_encoder(tmp_path, selector):
    from rag_dialogue.retrieval.encoder import TextEncoder

    data = write_article_dialogues(tmp_path / "d.txt", 24, gold_knowledge=True)
    examples = dialogue_examples({"task": "fromfile:parlaiformat", "fromfile_datapath": str(data),
                                  "datatype": "train", "datapath": str(tmp_path)})
    assert len(examples) == 24
    before = selector.recall(examples)
    out = tmp_path / "query_encoder"
    stats = train_query_encoder(selector, examples, out, steps=40, batch_size=8, lr=1e-3, progress=False)
    after = selector.recall(examples)
    assert stats["steps"] == 40 and stats["gold_among_candidates"] > 0.5
    assert after["recall@1"] >= before["recall@1"] + 0.3, (before, after)
    # the saved folder is a transformers encoder giving the trained vectors
    loaded = TextEncoder(str(out))
    queries = selector.queries(examples[:4])
    assert np.allclose(loaded.encode(queries, truncate_left=True),
                       selector.retriever.query_encoder.encode(queries, truncate_left=True), atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.txt", "query_encoder"]  # no temporary left


def test_no_gold_knowledge_is_a_clear_error(tmp_path, selector):
    with pytest.raises(ValueError, match="checked_sentence"):
        train_query_encoder(selector, [], tmp_path / "q", steps=1)
    assert not (tmp_path / "q").exists()


def test_a_time_limit_stops_training_early(tmp_path, selector):
    example = SelectionExample(("hi! can you tell me about Bermuda?",), "Bermuda", "x")
    stats = train_query_encoder(selector, [example], tmp_path / "q", steps=1000, max_seconds=0.0, progress=False)
    assert stats["steps"] == 0 and (tmp_path / "q" / "config.json").exists()


def test_the_command_refuses_bad_numbers_naming_the_option(tmp_path, capsys):
    from rag_dialogue.cli import main

    assert main(["index", "train-query-encoder", "--out", str(tmp_path / "q"), "--steps", "0"]) == 2
    assert "--steps must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


def test_training_retrieval_puts_the_gold_passage_last_where_the_search_left_it_out():
    """A wizard reply from a sentence none of the passages holds teaches the generator to
    say what its passages lack: the gold sentence takes the last place, found by its title."""
    from types import SimpleNamespace

    from rag_dialogue.retrieval.retriever import with_gold
    from rag_dialogue.retrieval.titles import TitleRows

    passages = [("Corgi", "The Welsh Corgi is a small herding dog."),
                ("Corgi", "Two separate breeds are recognized: the Pembroke and the Cardigan."),
                ("Beagle", "The beagle is a scent hound."),
                ("Poodle", "The poodle is a water dog."),
                ("Corgi", "The Pembroke is the more popular breed.")]
    retriever = SimpleNamespace(store=[SimpleNamespace(title=t, text=x) for t, x in passages])
    retriever.title_rows = TitleRows(retriever.store)
    rows = np.array([[0, 2, 3], [1, 0, 2], [2, 3, 0], [2, 3, 0]])
    golds = [("Corgi", "The Pembroke is the more popular breed."),  # left out: put last
             ("Corgi", "Two separate breeds are recognized"),  # retrieved (a part of it): kept
             None,  # no gold knowledge
             ("Corgi", "Corgis were bred by the Vikings.")]  # no row of its title holds it
    new, put = with_gold(retriever, rows, golds)
    assert new.tolist() == [[0, 2, 4], [1, 0, 2], [2, 3, 0], [2, 3, 0]]
    assert put.tolist() == [True, False, False, False]
    assert rows[0].tolist() == [0, 2, 3]  # the caller's rows are left as they were

    retriever.title_rows.enabled = False  # a store too large for a title table
    assert with_gold(retriever, rows, golds)[0].tolist() == rows.tolist()


def test_the_model_takes_in_the_gold_passage_in_training_only(tiny_index, tiny_encoder_dir, tiny_bart_dir):
    """Through `RagModel.retrieve` on a real index: the gold passage comes with a score the
    query encoder learns from (its inner product), and only while training."""
    from transformers import AutoTokenizer, BartForConditionalGeneration

    from rag_dialogue.model import RagModel
    from rag_dialogue.retrieval.encoder import TextEncoder
    from rag_dialogue.retrieval.retriever import Retriever

    encoder = TextEncoder(str(tiny_encoder_dir))
    retriever = Retriever(tiny_index, encoder)
    model = RagModel(BartForConditionalGeneration.from_pretrained(tiny_bart_dir),
                     AutoTokenizer.from_pretrained(tiny_bart_dir), {"pad": 0, "start": 101, "end": 102},
                     rag_type="token", n_docs=2, query_encoder=encoder, retriever=retriever, include_gold=True)
    query = encoder.tokenize(["hi! can you tell me about the weather?"])
    found = [p.text for p in model.retrieve(query)[0][0].passages]
    gold = next(p for p in retriever.store if p.text not in found)
    model.train()
    retrievals, scores = model.retrieve(query, gold=[(gold.title, gold.text)])
    assert [p.text for p in retrievals[0].passages] == found[:1] + [gold.text]
    scores.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    model.eval()
    assert [p.text for p in model.retrieve(query, gold=[(gold.title, gold.text)])[0][0].passages] == found
