"""Hallucination and grounding measures: definitions, and their behaviour on the embedded dataset's gold."""

import json

import pytest

import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
from rag_dialogue import metrics as m
from rag_dialogue.tasks.vital_articles import build as va
from rag_dialogue.tasks.wizard_of_wikipedia.agents import format_knowledge, topic_knowledge

KNOWLEDGE = ("Greta Garbo / Greta Garbo was a Swedish and American film actress.\n"
             "Greta Garbo / In 1999, the American Film Institute ranked Garbo fifth.")
HISTORY = ["Greta Garbo", "Who was Greta Garbo?"]


def test_content_words_normalise_like_parlai_and_drop_stopwords():
    assert m.content_words("Sure! The Garbó films, 1884–1886; I think they're great.") == \
        ["garbo", "films", "1884", "1886", "great"]
    assert m.content_words("Yes, it is what it is.") == []


def test_grounding_precision_definition():
    assert m.grounding_precision("Well, Garbo was a Swedish actress.", KNOWLEDGE, HISTORY) == 1.0
    # garbo, swedish, actress grounded; singer, paris not: 3 of 5
    assert m.grounding_precision("Garbo was a Swedish actress and singer in Paris.", KNOWLEDGE, HISTORY) == 0.6
    assert m.grounding_precision("Who was she?", KNOWLEDGE, HISTORY) is None  # stopwords only
    assert m.grounding_precision("Yes, I think so.", KNOWLEDGE, HISTORY) is None  # discourse words only
    assert m.grounding_precision("Garbo", [], ["Greta Garbo"]) == 1.0  # history grounds too
    assert m.grounding_precision("Garbo", [("Greta Garbo", "An actress.")], []) == 1.0  # (title, text) pairs


def test_invented_facts_and_numbers_are_hallucinations():
    assert not m.is_hallucinated("Garbo was a Swedish film actress.", KNOWLEDGE, HISTORY)
    assert not m.is_hallucinated("She was ranked fifth in 1999.", KNOWLEDGE, HISTORY)
    assert not m.is_hallucinated("Greta Garbo was a Swedish and American film actress, and the American "
                                 "Film Institute ranked her fifth in 1999.", KNOWLEDGE, HISTORY)  # two sentences joined
    assert m.is_hallucinated("Garbo was born in 1905.", KNOWLEDGE, HISTORY)  # number not in knowledge
    assert m.is_hallucinated("Garbo was a Norwegian actress.", KNOWLEDGE, HISTORY)  # a name not in knowledge
    # claims made of common words are claims too
    assert m.is_hallucinated("Garbo was a really good movie star, people loved her.", KNOWLEDGE, HISTORY)
    assert m.is_hallucinated("Yes they are very well behaved, they are useful for our environment.",
                             KNOWLEDGE, HISTORY)
    assert m.unsupported_rare_words("She won an Oscar in Paris in 1954.", KNOWLEDGE, HISTORY) == \
        ["oscar", "paris", "1954"]
    custom = m.RareWords.from_texts(["the film the actress", "a film"], top_n=1)
    assert custom("actress") and not custom("film") and custom("7")


def test_a_lower_threshold_takes_back_a_claim_half_supported():
    # the chat's reply on "I just got back from Japan.": "Japan" and "country" are the
    # passages', "middle of the world" is made up
    japan = "Japan: Japan is an island country in East Asia.\nJapan: It consists of about 6,852 islands."
    history = ["I just got back from Japan."]
    made_up = "Japan is a country in the middle of the world."
    assert 0.4 <= m.hallucination_score(made_up, japan, history) < m.HALLUCINATED_ABOVE
    assert m.is_hallucinated(made_up, japan, history, threshold=0.4)
    assert not m.is_hallucinated(made_up, japan, history)
    assert not m.is_hallucinated("Japan is an island country in East Asia.", japan, history, threshold=0.4)


def test_the_common_word_list_is_kept_and_recounted_when_its_source_changes(tmp_path, monkeypatch):
    source = tmp_path / "dataset.json"
    source.write_text(json.dumps({"c1": {"messages": [[{"text": "The film, the actress!"}], [{"text": "a film"}]]}}))
    monkeypatch.setenv("RAG_DIALOGUE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("rag_dialogue.paths.chitchat_file", lambda: source)
    m.default_rare_words.cache_clear()
    try:
        counted = m.default_rare_words()
        assert counted.common == {"film", "actress"}  # as RareWords.from_texts counts them
        kept = json.loads((tmp_path / "home" / "common_words.json").read_text())
        assert sorted(kept["words"]) == ["actress", "film"]
        m.default_rare_words.cache_clear()
        kept["words"] = ["kept"]  # read back, not counted again, while the source is unchanged
        (tmp_path / "home" / "common_words.json").write_text(json.dumps(kept))
        assert m.default_rare_words().common == {"kept"}
        m.default_rare_words.cache_clear()
        source.write_text(json.dumps({"c1": {"messages": [[{"text": "dog dog cat"}]]}}))
        assert m.default_rare_words().common == {"dog", "cat"}  # a changed source is counted again
    finally:
        m.default_rare_words.cache_clear()


def test_gold_passage_retrieved_definition():
    retrieved = [("Sky", "The sky is blue."), ("Greta Garbo", "Greta Garbo was a Swedish and American film actress.")]
    assert m.gold_passage_retrieved(retrieved, "Greta Garbo", "Greta Garbo was a Swedish and American film actress.")
    assert m.gold_passage_retrieved([("Whole article", "Intro. Greta Garbo was a Swedish and American film "
                                      "actress! More.")], "x", "greta garbo was a swedish and american film actress")
    assert not m.gold_passage_retrieved(retrieved[:1], "Greta Garbo", "Greta Garbo was a Swedish actress.")
    assert not m.gold_passage_retrieved([("Sky", "The sky is blueish.")], "Sky", "The sky is blue.")  # whole tokens
    assert m.gold_passage_retrieved(retrieved, "no_passages_used", "no_passages_used") is None


def test_follow_the_index_definition():
    facts = [["1905", "1912"], ["Swedish", "Norwegian"]]
    assert m.follow_the_index("She was born in 1912.", facts) == (True, False)
    assert m.follow_the_index("A swedish actress born in 1912.", facts) == (True, True)
    assert m.follow_the_index("Born in 1905.", facts) == (False, True)
    assert m.follow_the_index("She was an actress.", facts) == (None, None)
    assert m.follow_the_index("In 19120 BC.", facts) == (None, None)  # whole tokens only
    assert m.follow_the_index("anything", []) == (None, None)
    scores = m.score_response("She was born in 1912 in Norway.", KNOWLEDGE, HISTORY, facts)
    assert scores["follow_rate"] == 1.0 and scores["stale_rate"] == 0.0 and scores["hallucination_rate"] == 1.0
    assert set(m.score_response("Yes.", KNOWLEDGE, HISTORY)) == {
        "faithful_rate", "hallucination_rate", "no_claim_rate", "degenerate_rate", "hallucination_score",
        "inconsistency_score", "decline_rate", "read_out_rate"}


@pytest.mark.parametrize("response, category", [
    ("Garbo was a Swedish film actress.", "faithful"),
    ("Garbo was born in 1905 in Oslo.", "hallucinated"),
    ("That is great, I love her!", "no_claim"),  # an attitude, no checkable fact
    ("Who was Greta Garbo?", "no_claim"),  # says back what was said
    ("chemical chemical chemical actress", "degenerate"),  # degenerate comes first: never faithful
    ("Bermuda is a British Overseas Territory in the North Atlantic Ocean.", "hallucinated"),  # another passage
    ("Garbo was Garbo was Garbo was Swedish.", "degenerate"),
    ("I don't know who wrote The Glass Ferry.", "no_claim"),  # a decline claims nothing
    ("I'm not sure. She was born in 1905 in Oslo.", "hallucinated"),  # ... unless it goes on
    ("I'm not sure, but she was born in 1905 in Oslo.", "hallucinated"),  # ... in the same sentence too
    ("Yes, she was. She was a Swedish film actress.", "faithful"),  # not a loop: a sentence ends between
])
def test_each_response_has_exactly_one_category(response, category):
    assert m.response_category(response, KNOWLEDGE, HISTORY) == category
    scores = m.score_response(response, KNOWLEDGE, HISTORY)
    rates = {name: scores[name] for name in ("faithful_rate", "hallucination_rate", "no_claim_rate", "degenerate_rate")}
    assert sum(rates.values()) == 1.0
    assert rates["hallucination_rate" if category == "hallucinated" else f"{category}_rate"] == 1.0


def test_hallucination_score_orders_responses_by_support():
    supported = m.hallucination_score("Garbo was a Swedish and American film actress.", KNOWLEDGE, HISTORY)
    paraphrased = m.hallucination_score("Garbo acted in films; she was Swedish.", KNOWLEDGE, HISTORY)
    invented = m.hallucination_score("Garbo trained horses in Mexico and wrote three cookbooks.", KNOWLEDGE, HISTORY)
    assert 0.0 < supported < paraphrased < invented < 1.0
    assert supported < m.HALLUCINATED_ABOVE <= invented
    features = m.hallucination_features("Garbo trained horses in Mexico.", KNOWLEDGE, HISTORY)
    assert set(m.SCORE_FEATURES) <= set(features)
    assert features["unsupported_name"] == 1.0 and features["unsupported_number"] == 0.0
    assert features["unsupported"] == 0.75  # garbo grounded; trained, horses, mexico not


def test_per_sentence_evidence_judges_claims_not_questions_or_declines():
    f = m.hallucination_features("Have you seen her films? Garbo was a Swedish film actress.", KNOWLEDGE, HISTORY)
    assert f["unsupported_claims"] == 0.0 and f["worst_sentence"] == 0.0  # the question claims nothing
    assert f["unsupported"] > 0.0 and f["question_share"] > 0.3
    f = m.hallucination_features("Garbo was a Swedish actress. She trained horses in Mexico.", KNOWLEDGE, HISTORY)
    assert f["worst_sentence"] == 1.0 and 0.0 < f["unsupported_claims"] < 1.0  # one sentence made up
    # most words of one knowledge sentence with one changed: a swapped relation or quantity
    assert m.hallucination_features("The American Film Institute ranked Garbo sixth.", KNOWLEDGE, HISTORY)[
        "substituted"] == 1.0
    assert m.hallucination_features("The American Film Institute ranked Garbo fifth.", KNOWLEDGE, HISTORY)[
        "substituted"] == 0.0
    f = m.hallucination_features("I'm not a big fan of old films, but Garbo was a Swedish actress.",
                                 KNOWLEDGE, HISTORY)
    assert f["unsupported_impersonal"] == 0.0 and f["unsupported_claims"] > 0.0 and f["personal_share"] == 1.0
    assert m.claims_beyond_decline("I'm not sure, but it was built in 1889.") == "it was built in 1889."
    assert m.claims_beyond_decline("I don't know who wrote it. Garbo was Swedish.") == "Garbo was Swedish."


CUISINE = "French cuisine / During that time, French cuisine was heavily influenced by Italian cuisine."


def test_entailment_like_checks_against_the_best_matching_sentence():
    f = m.hallucination_features("During that time, Italian cuisine was influenced by French cuisine.", CUISINE, [])
    assert f["recombined"] > 0.3 and f["unsupported"] == 0.0  # the knowledge's own words, the relation reversed
    assert m.hallucination_features("French cuisine was heavily influenced by Italian cuisine.", CUISINE, [])[
        "recombined"] == 0.0
    # a rank or quantity written in words, changed or left out
    assert m.hallucination_features("The Film Institute ranked Garbo second.", KNOWLEDGE, HISTORY)[
        "unsupported_quantity"] == 1.0
    assert m.hallucination_features("The Film Institute ranked Garbo fifth.", KNOWLEDGE, HISTORY)[
        "unsupported_quantity"] == 0.0
    honda = "Honda was the eighth largest automobile manufacturer in the world."
    assert m.hallucination_features("Honda is the largest automobile manufacturer.", honda, [])[
        "dropped_quantity"] == 1.0
    assert m.hallucination_features("Honda is the eighth largest automobile manufacturer.", honda, [])[
        "dropped_quantity"] == 0.0
    assert m.stem("fourth") == m.stem("4th") and m.stem("nine") == "9"  # a small number either way
    assert m.hallucination_features("The Film Institute ranked Garbo 5th.", KNOWLEDGE, HISTORY)[
        "unsupported_quantity"] == 0.0
    # a garbled claim says a word again that its knowledge sentence says once
    manhattan = "Manhattan is the most densely populated borough of New York City."
    assert m.hallucination_features("Manhattan is the most densely populated borough of Manhattan.", manhattan,
                                    [])["self_repeated"] == 1.0
    assert m.hallucination_features("Manhattan is the most densely populated borough.", manhattan, [])[
        "self_repeated"] == 0.0
    # what is said beneath "I do know that" is a claim about the world; the speaker's own story is not
    f = m.hallucination_features("I don't know her films, but I do know that Garbo was a Norwegian singer.",
                                 KNOWLEDGE, HISTORY)
    assert f["unsupported_worldly"] > 0.3 and f["unsupported_impersonal"] == 0.0
    assert m.hallucination_features("I have loved her films since I was nine.", KNOWLEDGE, HISTORY)[
        "claims_worldly"] == 0.0


def test_inconsistency_score_judges_what_is_said_about_the_world():
    faithful = "Garbo was a Swedish film actress."
    assert not m.is_inconsistent(faithful, KNOWLEDGE, HISTORY)
    assert m.is_inconsistent("The American Film Institute ranked Garbo second.", KNOWLEDGE, HISTORY)
    assert m.is_inconsistent("Garbo was born in 1905 in Oslo.", KNOWLEDGE, HISTORY)
    reversed_relation = "During that time, Italian cuisine was heavily influenced by French cuisine."
    assert m.inconsistency_score(reversed_relation, CUISINE, []) > m.inconsistency_score(
        "During that time, French cuisine was heavily influenced by Italian cuisine.", CUISINE, []) + 0.1
    assert not m.is_inconsistent("Who was she?", KNOWLEDGE, HISTORY)  # no claim
    assert 0.0 < m.score_response(faithful, KNOWLEDGE, HISTORY)["inconsistency_score"] < m.INCONSISTENT_ABOVE


@pytest.mark.parametrize("babble", [
    "actress actress actress actress",  # knowledge words repeated
    "the the the the the",  # no content word at all
    "Garbo was Garbo was Garbo was Swedish.",
    "In 1999, the American Film Institute ranked Garbo fifth. In 1999, the American Film Institute ranked Garbo "
    "fifth.",  # a knowledge sentence said twice
])
def test_no_score_calls_babble_faithful(babble):
    assert m.hallucination_score(babble, KNOWLEDGE, HISTORY) >= m.HALLUCINATED_ABOVE
    assert m.inconsistency_score(babble, KNOWLEDGE, HISTORY) >= m.INCONSISTENT_ABOVE
    assert m.response_category(babble, KNOWLEDGE, HISTORY) == "degenerate"
    assert not m.is_inconsistent(babble, KNOWLEDGE, HISTORY) and not m.is_hallucinated(babble, KNOWLEDGE, HISTORY)


def test_an_unrelated_copied_passage_is_neither_faithful_nor_consistent():
    copied = "Bermuda is a British Overseas Territory in the North Atlantic Ocean."
    assert m.is_hallucinated(copied, KNOWLEDGE, HISTORY) and m.is_inconsistent(copied, KNOWLEDGE, HISTORY)


def test_declines():
    assert m.declines("I don't know who wrote that opera.") and m.declines("I'm not sure about that.")
    assert m.declines("Sorry, I have no information about the Glass Ferry.")
    assert m.declines("i ' m not sure . i don ' t know who wrote it .")  # tokenised replies
    assert m.declines("I don’t know.") and m.declines("I cannot tell.")
    assert not m.declines("I know she was Swedish.") and not m.declines("Garbo was not sure of herself.")
    assert m.score_response("I do not know, sorry.", KNOWLEDGE, HISTORY)["decline_rate"] == 1.0
    # the words of a title in quotes decline nothing
    assert not m.declines('Their first album was "I don\'t know what I do".')
    assert not m.declines("“I don’t know” is a song.") and m.declines("I don't know “Yesterday”.")


def test_statements_leave_out_questions():
    assert m.statements("Blue is a primary colour. Do you like it?") == "Blue is a primary colour."
    assert m.statements("Hi! Do you like swimming?") == "Hi!"
    assert m.statements("Have you been? Is it far?") == ""


def test_reads_out_is_one_long_run_of_one_sentence():
    knowledge = "Greta Garbo / Greta Garbo was a Swedish-born American film actress during the 1920s and 1930s."
    assert m.reads_out("Greta Garbo was a Swedish-born American film actress during the 1920s.", knowledge)
    assert m.reads_out("Oh yes! Greta Garbo was a Swedish-born American film actress during the 1920s "
                       "and 1930s.", knowledge)  # 14 of 16 words in one run
    assert not m.reads_out("She was a Swedish actress, and she acted in films in the twenties and thirties.",
                           knowledge)  # the same facts in its own words
    assert not m.reads_out("Garbo was American. She was a film actress during the 1920s.", knowledge)
    assert not m.reads_out("Yes.", knowledge)


def test_degenerate_responses():
    assert m.is_degenerate("chemical chemical chemical is a thing")  # a word thrice in a row
    assert m.is_degenerate("the history of the history of the modern century")  # a phrase twice in a row
    assert m.is_degenerate("He was born in Paris. He was born in Paris. He was born in Paris.")  # a loop
    assert not m.is_degenerate("It excludes the energy of the system as a whole and the mass of the "
                               "system as a whole, with respect to its surroundings.")  # one repeated phrase
    assert not m.is_degenerate("Shaka Zulu, Shaka the Zulu, was a king.")  # articles count
    assert m.is_degenerate("Sure!") and m.is_degenerate("")  # fewer than 3 words
    assert not m.is_degenerate("Bermuda is a British Overseas Territory in the North Atlantic Ocean.")
    assert not m.is_degenerate("It is big, big and old.")  # twice in a row is speech, not babble
    assert not m.is_degenerate("yes , he is . he is writing a sixth novel .")  # a sentence ends between
    assert m.is_degenerate("He was born in Paris. He was born in Paris.")  # a sentence said again is a loop
    assert m.score_response("Sure!", KNOWLEDGE, HISTORY)["degenerate_rate"] == 1.0


def test_a_name_joined_to_itself_is_babble_unless_the_name_goes_on():
    # a RAG-Token reply on real WoW valid ("What are the differences in the two breeds?"),
    # scored "no claim" before
    cardigans = "There are two recognized breeds, the Cardigan and the Cardigan."
    assert m.is_degenerate(cardigans) and m.is_degenerate("Paris or Paris, I think.")
    knowledge = ["There are two recognized breeds, the Cardigan Welsh Corgi and the Pembroke Welsh Corgi."]
    assert m.response_category(cardigans, knowledge, ["What are the differences in the two breeds?"]) == "degenerate"
    for speech in ("The syntax of Java is similar to C and C++.", "He studied at the City College of New York "
                   "and New York University.", "Pompey or Pompey the Great was a Roman general.",
                   "More and more people came.", "We walked for miles and miles."):
        assert not m.is_degenerate(speech), speech
    # a name given itself as its other name (a chat reply to "What is yoga?"), unless written so
    assert m.is_degenerate("Yoga, or Yoga, is a group of physical, mental, and spiritual practices.")
    assert not m.is_degenerate("Santiago de Cali, or Cali, is the capital of the Valle del Cauca.")
    assert not m.is_degenerate("Tx, or Tx, is a name.", written=["Tx, or Tx, is a name."])


def test_a_name_twice_in_a_row_is_babble_unless_it_is_written_so():
    # RAG-Token replies on real WoW valid, scored faithful before
    knowledge = ["Two separate breeds / Two separate breeds are recognized: the Pembroke Welsh Corgi and the "
                 "Cardigan Welsh Corgi."]
    babble = "There are several physical differences between the Cardigan Welsh Cardigan and the Cardigan Cardigan"
    assert m.response_category(babble, knowledge, ["What are the differences?"]) == "degenerate"
    assert m.is_degenerate("It was released by Walt Walt Disney Pictures.")
    # a name that is so: the knowledge or the dialogue writes it twice
    cao = ["Cao Cao / Cao Cao was a Chinese statesman and warlord."]
    assert m.response_category("Cao Cao was a Chinese warlord.", cao, ["Who was he?"]) == "faithful"
    assert not m.is_degenerate("Cao Cao was a Chinese warlord.", written=["Who was Cao Cao?"])
    assert m.is_degenerate("Cao Cao was a Chinese warlord.", written=["Cao was a Chinese warlord."])
    assert not m.is_degenerate("Yes yes, the Cardigan is larger.")  # not a name: speech
    # a range from a number to itself (RAG-Token replies); a range that goes on is one
    assert m.is_degenerate("He served as an Illinois state senator from 1997 to 1997.")
    assert m.is_degenerate("From 1972 to 1972, the band consisted of Eddie Van Halen.")
    assert not m.is_degenerate("The estimate is between 8 and 8.7 million species.")
    assert not m.is_degenerate("He served from 1997 to 2004 and from 2005 to 2008.")


def test_a_reply_that_restates_its_subject_says_nothing():
    # a chat reply of an undertrained model, asked "Where is it?" about Mount Everest
    himalayas = "The Himalayas are located in the Himalayas."
    assert m.restates_subject(himalayas) and m.restates_subject("Mount Everest is Mount Everest.")
    knowledge = ["Mount Everest is Earth's highest mountain, in the Mahalangur Himal sub-range of the Himalayas."]
    assert m.response_category(himalayas, knowledge, ["Where is it?"]) == "degenerate"
    # a name that is a part of itself can be nothing, and every word of it is in the
    # passage, so no other measure calls it unsupported (a chat reply, asked "What language
    # is spoken in Brazil?")
    assert m.restates_subject("Paris is the capital of Paris.")
    assert m.restates_subject("Brazil is the official language of Brazil and the only Portuguese-speaking country.")
    for claim in ("San Diego is the county seat of San Diego County.", "Ezra is the main character of the Book of Ezra.",
                  "Pisa is in Tuscany, famous for the leaning tower of Pisa.", "Paris is the capital of France.",
                  "New York is in New York State.", "The Nile is a river.", "It is located in the Himalayas.",
                  "I have seen a few shows, I love musicals, and most of them are musicals"):  # a long lead-in
        assert not m.restates_subject(claim), claim
    assert not m.is_degenerate(himalayas + " It is the highest mountain on Earth.")  # one sentence claims


def test_no_human_wizard_of_wikipedia_turn_restates_its_subject_or_repeats_one_word():
    from rag_dialogue.tasks.wizard_of_wikipedia.seen import load

    turns = [t for dialogue in load("valid") for pair in dialogue["dialogue"] for t in pair if isinstance(t, str)]
    assert len(turns) > 7000  # every apprentice and wizard turn of valid seen
    sentences = [s for t in turns for s in m._SENTENCE_END.split(t) if s.strip()]
    assert [s for s in sentences if m.restates_subject(s)] == []
    assert [t for t in turns if m._one_word_dominates(t)] == []
    assert [t for t in turns if m._says_again(t)] == []


def test_a_clause_that_only_says_again_what_the_reply_said_is_babble():
    taj = ("It was commissioned in 1631 by the fifth Mughal emperor, Shah Jahan, to house the tomb of his late "
           "wife, Mumtaz Mahal; it also housed the tomb in  it was also commissioned in the fifth Mughals.")
    assert m.is_degenerate(taj) and not m.is_degenerate(taj.split(";")[0] + ".")
    # the article's own sentence names again what it named, with four words: not babble
    assert not m.is_degenerate(taj.split(";")[0] + "; it also houses the tomb of Shah Jahan himself.")
    assert not m.is_degenerate("It is defined in Article 2.1 through Article 2.11 of the Code.")  # decimals end no clause
    assert not m.is_degenerate("I like to play video games. My favorite is Minecraft. Do you play video games?")
    assert not m.is_degenerate("Shah Jahan built it. Shah Jahan loved her.")  # two content words said again


def test_a_clause_that_another_denies_is_babble():
    xbox = [("Xbox 360", "The Xbox 360 is a home video game console developed by Microsoft.")]
    history = ["We have an Xbox 360 and an Xbox one but we hardly play them."]
    # the no-knowledge model's reply, which the measure scored faithful for the knowledge's words
    reply = "Well, it is not a game, it's a game."
    assert m.denies_itself(reply) and m.response_category(reply, xbox, history) == "degenerate"
    assert m.denies_itself("They are not the same, they are the same.")
    for sentence in ("It is not a fruit, it is a vegetable.", "It is a game, not a sport.",
                     "Is it a game? It is not a game.",  # a question claims nothing
                     "It is not only a game, it is a game for kids.",
                     "Northern Wu languages are mutually intelligible, while those of Southern Wu are not "
                     "mutually intelligible."):  # too short a clause to hold its subject
        assert not m.denies_itself(sentence) and not m.is_degenerate(sentence), sentence


def test_a_list_that_names_its_items_again_is_babble():
    # a chat reply to "I'm going to see a ballet tonight.", and the no-knowledge model's on a real WoW turn
    ballet = "A ballet, a work, a choreography, a music, a dance, a performance, a ballet, and a performance."
    assert m.repeats_a_listed_item(ballet) and m.is_degenerate(ballet)
    assert m.repeats_a_listed_item("England, the land of the pig, England, the country, England")
    for sentence in ("The can spotted, brown and white, grey and white, but they all have a warning stripe.",
                     "I have planted several fruits trees, tomatoes, jalepenos, bell peppers, onions, and potatoes.",
                     "Starting from F0, the sequence begins 0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144.",
                     "Red, green, blue, yellow and red."):  # one said again
        assert not m.repeats_a_listed_item(sentence), sentence


def test_the_first_stem_leaves_the_random_state_alone():
    """NLTK's import draws from Python's random state; a resumed training run restores that
    state and must then draw the examples the uninterrupted run drew."""
    import subprocess
    import sys

    code = ("import random; random.seed(0); a = random.random(); random.seed(0); "
            "from rag_dialogue import metrics; metrics.stem('running'); print(a == random.random())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("True")


def test_one_word_said_over_and_over_is_babble():
    # a chat reply of the fully trained model to "Tell me about the Pacific Ocean."
    pacific = ("The Pacific Ocean is the largest and most deepest part of the world's oceans. It separates the "
               "Pacific Ocean, which is the part of Earth's ocean system that includes the Pacific, Pacific Ocean "
               "(including the Indian Ocean, Pacific Atlantic Ocean, and Pacific Arctic Ocean), and the Atlantic Ocean.")
    assert m.is_degenerate(pacific)
    assert not m.is_degenerate("The Standard Poodle, Miniature Poodle and Toy Poodle are breeds of poodle.")  # 4 times
    assert not m.is_degenerate("Common uses of graphic design include corporate design (logos and branding), "
                               "editorial design (magazines, newspapers and books), wayfinding or environmental "
                               "design, also web design and more.")  # a human wizard's list: 5 of 19


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    path = tmp_path_factory.mktemp("va_metrics")
    va.build(path, va.BuildConfig(num_articles=120, unseen_articles=40, seen_episodes=20, wow_valid_episodes=40,
                                  wow_train_episodes=10), log=lambda _: None)
    return path


def gold_examples(datapath, split, real: bool = False):
    """(response, knowledge, history, episode, turn) for every wizard turn with knowledge of
    a split: of its conversations about articles, or (`real`) of its real WoW conversations."""
    for episode in json.loads(va.split_file(datapath, split).read_text()):
        if bool(episode["persona"]) == real:  # real WoW conversations keep no persona
            continue
        history = [episode["chosen_topic"]]
        for i, turn in enumerate(episode["dialog"]):
            if turn.get("checked_sentence"):
                yield turn["text"], format_knowledge(topic_knowledge(episode, i)), list(history), episode, turn
            history.append(turn["text"])


@pytest.mark.parametrize("split", ["train", "valid_seen", "test_unseen", "test_counterfactual"])
def test_gold_responses_are_grounded_and_not_hallucinated(embedded, split):
    examples = list(gold_examples(embedded, split))
    precision = [m.grounding_precision(r, k, h) for r, k, h, *_ in examples]
    hallucinated = [m.is_hallucinated(r, k, h) for r, k, h, *_ in examples]
    assert sum(p for p in precision if p is not None) / len(precision) >= 0.99
    assert sum(hallucinated) / len(hallucinated) <= 0.01
    checked = [list(t["checked_sentence"].values())[0] for *_, t in examples]
    passages = [(r["title"], r["text"]) for r in map(json.loads, va.passages_file(
        embedded, counterfactual="counterfactual" in split).read_text().splitlines())]
    assert all(m.gold_passage_retrieved(passages, "", s) for s in checked[:20])


def test_real_wizards_speak_in_their_own_words(embedded):
    """Human WoW wizards use their checked sentence but rarely read it out, and never babble.
    (Against the checked sentences alone, most of their replies say more than the sentence:
    the wizard saw whole passages, and tells of their own life.)"""
    examples = list(gold_examples(embedded, "valid_wow", real=True))
    assert len(examples) >= 100
    categories = [m.response_category(r, k, h) for r, k, h, *_ in examples]
    read_out = [m.reads_out(r, k) for r, k, *_ in examples]
    assert categories.count("degenerate") / len(examples) <= 0.02
    assert categories.count("faithful") / len(examples) >= 0.2
    assert sum(read_out) / len(examples) <= 0.15


def test_counterfactual_answers_are_flagged_against_the_original_knowledge(embedded):
    originals = {e["chosen_topic"]: e for e in json.loads(va.split_file(embedded, "test_unseen").read_text())}
    flagged = follows = total = 0
    for response, _, history, episode, turn in gold_examples(embedded, "test_counterfactual"):
        if not turn["changed_facts"]:
            continue
        total += 1
        title = episode["chosen_topic"]
        original = format_knowledge({title: originals[title]["chosen_topic_passage"]})
        flagged += m.is_hallucinated(response, original, history)
        follows += m.follow_the_index(response, turn["changed_facts"]) == (True, False)
    assert total >= 5 and follows == total
    assert flagged / total >= 0.8  # a swapped common word ("American") may go unnoticed


def test_inflections_of_knowledge_words_are_grounded_but_changed_facts_are_not():
    knowledge = "He was honored with the Cecil B. DeMille Award in 2001; his films grossed $3 billion."
    assert m.unsupported_rare_words("he was honor with the demille award", knowledge, "") == []
    assert m.unsupported_rare_words("his films grossing over 3 billion", knowledge, "") == []
    assert m.unsupported_rare_words("the demille award in 2003", knowledge, "") == ["2003"]
    assert m.grounding_precision("honors and grossing", knowledge, "") == 1.0


def test_missing_parts_score_without_error():
    assert m.response_category("", KNOWLEDGE, HISTORY) == "degenerate"
    assert 0.0 < m.hallucination_score(None, None, None) < 1.0
    assert m.response_category("Paris is a big city.", ["Paris / Paris is a big city."], "") == "faithful"
    parlai_format = "Paris __knowledge__ Paris is a big city.\nno_passages_used __knowledge__ no_passages_used"
    assert not m.is_hallucinated("Paris is a big city.", parlai_format, "Tell me about Paris")


def test_a_sentence_that_joins_two_passages_into_a_claim_neither_makes():
    planets = [("Mercury (planet)", "Mercury is the first planet from the Sun and the smallest in the Solar System."),
               ("Mars", "Mars is the fourth planet from the Sun.")]
    asked = ["Which planet is second from the Sun?"]  # what a question names needs a passage
    assert m.blended_sentence("Mars is the second planet from the Sun.", planets, asked)
    assert m.blended_sentence("Mars is the fourth planet from the Sun.", planets, asked) is None
    assert m.blended_sentence("Mars is the first planet from the Sun.", planets, asked)
    # the title counts in each sentence of its passage; one key word is left to the other measures
    venus = [("Venus", "It is the second planet from the Sun. The atmosphere is mostly carbon dioxide.")]
    assert m.blended_sentence("The atmosphere of Venus is mostly carbon dioxide.", venus, ["What is it made of?"]) is None
    assert m.blended_sentence("Oh, I think that is right!", venus, asked) is None
    napoleon = [("Napoleon", "As Napoleon I, he was Emperor of the French from 1804 until 1814 and briefly again in 1815.")]
    assert m.blended_sentence("He was Emperor of the French from 1804 until his first abdication in 1815.",
                              napoleon, ["When did Napoleon become Emperor?"])
    # an earlier reply counts as a passage sentence, not as the partner's words
    wall = [("Great Wall of China", "The first walls date to the 7th century BC; these were joined in the Qin dynasty.")]
    turns = ["Tell me about the Great Wall.", "It is a series of fortifications.", "When was it built?",
             "The best-known sections were built by the Ming dynasty (1368–1644).", "Who built the best-known sections?"]
    assert m.blended_sentence("The first walls were built by the Ming dynasty (1368–1644).", wall, turns)
    assert m.blended_sentence("They were built by the Ming dynasty (1368–1644).", wall, turns) is None
    # what the partner told needs no passage
    dogs = [("Labrador Retriever", "The Labrador Retriever is one of the most popular dog breeds in Canada.")]
    assert m.blended_sentence("Rex is lucky: the Labrador Retriever is popular in Canada.", dogs,
                              ["I have a dog called Rex."]) is None
    # a superlative ranks as "second" does: Brazil's "largest" joined to its "26 states" (a chat reply)
    brazil = [("Brazil", "Brazil is a federation composed of 26 states and a Federal District, which hosts the "
                         "capital, Brasília."),
              ("Brazil", "Brazil is the largest country in South America.")]
    assert m.blended_sentence("Brasília is the capital of Brazil and is the largest of the 26 states.", brazil,
                              ["What is the capital of Brazil?"])
    assert m.blended_sentence("Brazil is the largest country in South America.", brazil, ["Tell me more."]) is None


def test_human_wizards_rarely_blend_their_knowledge(embedded):
    """Of the real WoW wizards' replies the measures call faithful, few join two knowledge
    sentences into one claim (on all of valid seen, 18 of 1,158: 1.6%, most of them a "first"
    or a typo at a sentence's start)."""
    examples = list(gold_examples(embedded, "valid_wow", real=True))
    faithful = [(r, k, h) for r, k, h, *_ in examples if m.response_category(r, k, h) == "faithful"]
    assert len(faithful) >= 30
    blended = [r for r, k, h in faithful if m.blended_sentence(r, [("", s) for s in k.split("\n")], h)]
    assert len(blended) / len(faithful) <= 0.05, blended


def test_a_name_joined_from_two_names_is_held_by_neither():
    tai = [("Mount Tai", "The tallest peak is the Jade Emperor Peak, which is commonly reported as being "
                         "1,545 meters (5,069 ft) tall.")]
    asked = ["What is the tallest mountain in the world?"]
    made_up = "The tallest mountain in the world is Mount Emperor, which is 1,545."  # a chat reply
    assert m.blended_name(made_up, tai, asked) == "Mount Emperor"
    assert m.blended_sentence(made_up, tai, asked) is None  # each word is held, the title's too
    for held in ("The Jade Emperor Peak is 1,545 meters tall.", "Mount Tai is tall.",
                 "The Mount Tai peak is tall.",  # a sentence's first word may be no part of the name
                 "Jade Peak is its tallest."):  # a name may leave words out
        assert m.blended_name(held, tai, asked) is None, held
    friends = [("Friends", "Rachel Karen Green is one of the six main characters. Charles F. Price writes. "
                           "The Welsh Corgi is a dog.")]
    for held in ("Rachel Green is the best.", "Charles Price does.", "Welsh Corgis are small.",
                 "So I think Rachel Green is."):  # "I" is no name
        assert m.blended_name(held, friends, ["Hi"]) is None, held
    assert m.blended_name("The best is Green Rachel.", friends, ["Hi"]) == "Green Rachel"  # order counts
    # the dialogue's turns hold names too
    assert m.blended_name("Yes, Ronnie Jagger did.", [("The Rolling Stones", "Ronnie Wood joined.")],
                          ["Did Ronnie Jagger join?"]) is None
    assert m.blended_name("Yes, Ronnie Jagger did.", [("The Rolling Stones", "Ronnie Wood joined Mick Jagger.")],
                          ["Who joined?"]) == "Ronnie Jagger"

    # an article may be capitalised, words written lowercase may be capitalised, and
    # capitals throughout are shouting, not a name
    assert m.blended_name("Yes, The Southern Baptist Convention is a denomination.", [("", "It is large.")],
                          ["Do you know the Southern Baptist Convention?"]) is None
    assert m.blended_name("The Southern Baptists split from the Northern Baptists.",
                          [("", "The Southern Baptist Convention was organized by Baptists who split with "
                                "northern Baptists.")], []) is None
    assert m.blended_name("NEVER BEEN BUT ALWAYS WANTED TO VISIT.", [("", "Oceania is a region.")], []) is None


def test_a_blended_name_is_hallucinated_though_each_word_is_supported():
    knowledge = ("Blue Skies / The Royal Blue was the Baltimore and Ohio Railroad's flagship passenger train.\n"
                 "Blue Skies / Blue Skies is a 1946 American musical comedy film starring Bing Crosby.")
    history = ["I like royal blue.", "Yes, speaking of Blue Skies, have you seen the 1946 movie?"]
    blend = "The Royal Blue Skies was a 1946 movie starring Bing Crosby."  # an evaluation reply
    assert m.hallucination_features(blend, knowledge, history)["blended_name"] == 1.0
    assert m.response_category(blend, knowledge, history) == "hallucinated"
    assert m.is_inconsistent(blend, knowledge, history)
    held = "Blue Skies was a 1946 movie starring Bing Crosby."
    assert m.hallucination_features(held, knowledge, history)["blended_name"] == 0.0
    assert m.response_category(held, knowledge, history) == "faithful"
    assert m.knowledge_passages(knowledge)[1] == ("Blue Skies", "Blue Skies is a 1946 American musical comedy "
                                                               "film starring Bing Crosby.")


def test_a_ranking_no_passage_makes_is_a_claim_of_its_own():
    blue = [("Blue", "It lies between violet and green on the spectrum of visible light."),
            ("Blue", "Blue is one of the three primary colours of pigments in painting.")]
    asked = ["Why is the sky blue?"]
    made_up = "Blue is the most commonly used colour in the spectrum of visible light."  # a chat reply
    assert m.unheld_superlative(made_up, blue, asked) == "the most commonly"
    assert m.unheld_superlative("Bandung is the largest city in Southeast Asia.", blue, asked) == "largest"
    for kept in ("Blue lies between violet and green.", "Most people like blue.", "At least it is pretty.",
                 "It is one of the most common colours."):
        assert m.unheld_superlative(kept, blue + [("Blue", "It is one of the most common colours.")], asked) is None, kept


def test_a_superlative_said_beyond_the_place_every_passage_scopes_it_to_is_a_claim_of_its_own():
    mountains = [("Denali", "Denali is the highest mountain peak in North America."),
                 ("Aconcagua", "It is the highest mountain in the Americas, the highest outside Asia.")]
    asked = ["What's the tallest mountain in the world?"]
    assert m.widened_superlative("I think the highest mountain in the world is Mount. 6,190.",  # a chat reply
                                 mountains, asked) == "I think the highest mountain in the world is Mount."
    for made_up in ("Denali is the highest mountain.", "The highest mountain is Mount Everest."):
        assert m.widened_superlative(made_up, mountains, asked) == made_up, made_up
    for kept in ("Denali is the highest mountain peak in North America.",
                 "Aconcagua is the highest mountain in the Americas.",
                 "Denali is the second highest mountain.", "Denali is one of the highest mountains."):
        assert m.widened_superlative(kept, mountains, asked) is None, kept
    # a passage that ranks it in the world, or unscoped, holds it; so does a place the question names
    assert m.widened_superlative("Mount Orvel is the highest mountain in the world.",
                                 mountains + [("Mount Orvel", "It is the highest mountain on Earth.")], asked) is None
    rivers = [("Ulva River", "The Ulva River is the longest river in Tolvash.")]
    asked = ["What is the longest river in Tolvash?"]
    assert m.widened_superlative("The Ulva is the longest river there.", rivers, asked) is None
    assert m.widened_superlative("The Ulva is the longest river.", rivers, ["What is the longest river?"]) is not None


def test_a_passage_sentence_said_again_with_a_word_put_in_is_a_claim_of_its_own():
    observatory = [("Vantorel Observatory", "The Vantorel Observatory is an astronomical observatory on the "
                                            "slopes of Mount Crasken."),
                   ("Vantorel Observatory", "Its main telescope has a mirror 3.2 metres across.")]
    asked = ["Who runs the Vantorel Observatory?"]
    made_up = "The Vantorel Observatory is the main astronomical observatory on the slopes of Mount Crasken."
    assert m.inserted_word(made_up, observatory, asked) == "main"  # a chat reply; "main" is the telescope's
    assert m.response_category(made_up, "\n".join(t for _, t in observatory), asked) == "faithful"
    kavorian = [("Kavorian language", "About 12,000 people speak Kavorian as their first language.")]
    assert m.inserted_word("There are 12,000 people in the world who speak Kavorian as their first language.",
                           kavorian, ["How many people speak the Kavorian language?"]) == "world"
    for kept in (observatory[0][1], "It is an astronomical observatory on the slopes of Mount Crasken.",
                 "I think the Vantorel Observatory is usually an astronomical observatory on Mount Crasken.",
                 "The Vantorel Observatory, which I love, is an observatory on the slopes of Mount Crasken.",
                 "It runs the Vantorel Observatory, an observatory on the slopes of Mount Crasken.",  # the question's
                 "Its main telescope has a mirror 3.2 metres across on Mount Crasken.",  # two words: a join
                 "The telescope is big."):  # too short to say a sentence again
        assert m.inserted_word(kept, observatory, asked) is None, kept


def test_a_deed_given_to_a_name_no_passage_gives_it_to_is_a_claim_of_its_own():
    founded = [("Vantorel Observatory", "It was founded in 1894 by the astronomer Hedda Quorne.")]
    asked = ["Who founded the Vantorel Observatory?"]
    made_up = "It was founded by the astronomer Hedda Quorne in 1894 by the Vantorel Observatory."  # a chat reply
    assert m.unheld_agent(made_up, founded, asked) == "Vantorel Observatory"
    assert m.unheld_agent("Keith Richards was replaced by Mick Jagger.", founded, asked) == "Mick Jagger"
    for kept in ("It was founded by the astronomer Hedda Quorne in 1894.", "It was founded by Hedda Quorne.",
                 "It was founded in 1894 by the astronomer Hedda Quorne, by all accounts.",  # no name after "by"
                 "I'm not sure who founded it, but Hedda Quorne did.",
                 "It was built by Romans."):  # the dialogue names them
        assert m.unheld_agent(kept, founded, asked + ["I heard it was built by Romans."]) is None, kept


def test_a_superlative_ranks_the_last_word_before_its_phrase_ends():
    assert m.superlative_scopes("It is the world's largest permanent desert lake.")[0][1][0] == "lake"
    assert m.superlative_scopes("It is the largest animal known to have ever existed.")[0][1] == ("anim",)
    assert m.superlative_scopes("Mount Elbrus is Europe's highest mountain.")[0][2] == "Europe"
    assert m.superlative_scopes("It is Earth's highest mountain.")[0][2] == ""  # the world narrows nothing
    assert m.superlative_scopes("They are the biggest in China, I think.") == []  # ranks nothing
    assert m.superlative_scopes("It is the thirteenth-largest country.") == []  # ranked
    assert m.superlative_scopes("the highest mountains on each continent")[0][3]  # a set
    assert m.superlative_scopes("It is the most popular television program among all genres.")[0][1] == \
        ("program", "televis")
    assert m.superlative_scopes("It is the most populous city in the U.S. state of Maine.")[0][2] == "Maine"


def test_most_makes_a_superlative_of_the_adjective_it_leads():
    assert m.superlative_scopes("It is the world's most popular sport.") == [("most popular", ("sport",), "", False)]
    assert m.superlative_scopes("English is the most widely spoken language in the world.")[0][:2] == \
        ("most spoken", ("languag",))
    assert m.superlative_scopes("Russia is the most populous country in Europe.")[0][2] == "Europe"
    for nothing in ("Most of them are at least ten.", "It has the most goals in a season.",
                    "It is the world's second-most spoken language.", "Japan is the 11th most populous country."):
        assert m.superlative_scopes(nothing) == [], nothing


def test_a_superlative_that_goes_on_from_what_its_subject_is_ranks_that():
    """"the largest in the Solar System" names no kind; it goes on from "the fifth planet"."""
    assert m.superlative_scopes("Jupiter is the fifth planet from the Sun, and the largest in the Solar System.") \
        == [("largest", ("planet",), "", False)]
    assert m.superlative_scopes("Ceres was a dwarf planet, and the largest in the belt.")[0][1] == ("planet", "dwarf")
    assert m.superlative_scopes("It grew, and the largest in China fell.") == []  # no thing it is


def test_a_word_that_leads_several_names_cannot_end_one():
    written = ["The highest point is Mount Dena.", "Denali, federally designated as Mount McKinley, is high."]
    assert m.cut_name("I think the highest mountain in the world is Mount. 6,190.", written) == "Mount"
    for kept in ("It is Mount Dena.", "Yes. Mount Dena is high.", "Mount."):  # a name; a sentence it opens
        assert m.cut_name(kept, written) is None, kept
    # a word that leads one name only is that name said short, as people say it
    assert m.cut_name("Especially Rachel and Monica.", ["Rachel Green and Monica Geller"]) is None


def test_a_word_left_out_after_a_preposition_is_a_stumble():
    assert m.left_gap("Ondrel Vask was born in 1788 and died in  after 1846.") == "in  "
    assert m.left_gap("He was born in 1788 and died in 1846.") is None
    assert m.left_gap("It has 900 islands stretching for over  over that area.") == "over  "
    assert m.left_gap("It is big.  It is old.") is None  # two spaces between sentences
    assert m.left_gap("They live in  caves.", ["They live in  caves."]) is None  # written so


def test_what_a_verb_asked_takes_must_be_a_sentence_of_that_verb():
    pudding = [("Kettlewick pudding", "Kettlewick pudding is a steamed dessert from the fishing villages of the Harrow coast."),
               ("Kettlewick pudding", "It is made with oats, black treacle and dried figs.")]
    asked = ["What is Kettlewick pudding made with?"]
    made_up = "Kettlewick pudding is made from the fish of the Harrow coast."  # a chat reply
    assert m.unheld_object(made_up, pudding, asked) == "made from the fish of the Harrow coast"
    assert not m.is_hallucinated(made_up, "\n".join(t for _, t in pudding), asked)  # what the words miss
    assert m.unheld_object("It is made with oats and dried figs.", pudding, asked) is None
    assert m.unheld_object(made_up, pudding, ["Where is it from?"]) is None  # asks of no verb's object


def test_a_passage_sentence_read_out_then_ended_otherwise_is_a_claim_of_its_own():
    melbourne = [("Melbourne", "Melbourne is the capital and most populous city of the Australian state of "
                               "Victoria and the second-most populous city in Australia.")]
    asked = ["What is the capital of Australia?"]
    made_up = "Melbourne is the capital and most populous city of the Australian capital territory."  # a chat reply
    assert m.swapped_ending(made_up, melbourne, asked) == made_up
    assert m.is_hallucinated(made_up, "\n".join(t for _, t in melbourne), asked) is False  # what the words miss
    for true in ("Melbourne is the capital and most populous city of the Australian state of Victoria.",  # cut short
                 "Yes, Melbourne is the capital and most populous city of Victoria.",  # its own words, held
                 "Melbourne is the capital and most populous city of the Australian capital territory.  "[:30]):
        assert m.swapped_ending(true, melbourne, asked) is None, true
    # a run anywhere in a sentence, then another number or name where the passage goes on (a chat reply)
    moon = [("Moon landing", "The first human-made object to touch the Moon was Luna 2 in 1959, and the first "
                             "crewed mission to land on the Moon was Apollo 11 in 1969.")]
    then = ["Who was the first person on the moon?", "It was Neil Alden Armstrong.", "When did that happen?"]
    swapped = "The first person on the Moon was named Luna 2 in 1959, and the first crewed mission was Apollo 11 in Apollo 2."
    assert m.swapped_ending(swapped.replace("mission was", "mission to land on the moon was"), moon, then)
    assert m.swapped_ending("The first crewed mission to land on the Moon was Apollo 11 in 1969.", moon, then) is None
    # ... also past an article (a chat reply: "the fall of Constantinople in 1453")
    rome = [("Roman Empire", "The Western Roman Empire collapsed in 476 AD, whereas the Eastern Roman Empire "
                             "persisted until the fall of Constantinople in 1453.")]
    reading = ["I'm reading about the Roman Empire."]
    assert m.swapped_ending("The Roman Empire collapsed in 476 AD, whereas the Eastern Roman Empire persisted until "
                            "the fall of the Western Roman Empire in 1453.", rome, reading)
    assert m.swapped_ending("The Eastern Roman Empire persisted until the fall of Constantinople in 1453.",
                            rome, reading) is None
    # a word or two left out, or a name cut short, is no other claim
    delta = [("Alexandria", "Lying at the western edge of the Nile River Delta, it extends about 90 km.")]
    for left_out in ("Lying at the western edge of the Nile, Alexandria extends about 90 km.",
                     "Lying at the western edge of the Nile River, it extends about 90 km."):
        assert m.swapped_ending(left_out, delta, ["Where is it?"]) is None, left_out
    # a word the dialogue holds may end it: "Canberra" came from the partner
    assert m.swapped_ending("Melbourne is the capital and most populous city of the Australian Canberra.",
                            melbourne, ["Is it Canberra?"]) is None
    # one word of how often for another is the passage's claim in other words (a chat reply)
    sushi = [("Sushi", "Sushi is a traditional Japanese dish made with vinegared rice , typically seasoned "
                       "with sugar and salt, and combined with a variety of ingredients.")]
    paraphrase = "Sushi is a traditional Japanese dish made with vinegared rice, usually seasoned with sugar."
    assert m.swapped_ending(paraphrase, sushi, ["Where does it come from?"]) is None
    assert m.swapped_ending(paraphrase.replace("usually", "sweetly"), sushi, ["Where does it come from?"])
    # read to its end, then a phrase of place of its own (a chat reply on a made-up article)
    market = [("Tallow Street Market", "The market's iron roof was made at the Gillan foundry."),
              ("Tallow Street Market", "Tallow Street Market is a covered market in the old town of Parrowick.")]
    joined = "The market's iron roof was made at the Gillan foundry in the town of Gillan."
    asked = ["Where was the roof of Tallow Street Market made?"]
    assert m.swapped_ending(joined, market, asked) == joined
    for kept in ("The market's iron roof was made at the Gillan foundry, I think.",
                 "The market's iron roof was made at the Gillan foundry in the old town of Parrowick."):
        assert m.swapped_ending(kept, market, asked) is None, kept
    # a phrase of place from another sentence ends the claim (a chat reply, as it retrieved them)
    coffee = [("Coffee", "Coffee plants are now cultivated in over 70 countries, primarily in the equatorial "
                         "regions of the Americas, Southeast Asia, India, and Africa."),
              ("Coffee", "The genus \"Coffea\" is native to tropical Africa (specifically having its origin in "
                         "Ethiopia and Sudan) and Madagascar, the Comoros, Mauritius, and Réunion in the Indian Ocean.")]
    spliced = ("The genus of the coffee plant is native to tropical Africa, specifically in the equatorial regions "
               "of the Americas, Southeast Asia, and India.")
    assert m.swapped_ending(spliced, coffee, ["Where does it come from?"]) == spliced
    for kept in ("The genus Coffea is native to tropical Africa, specifically having its origin in Ethiopia.",
                 "Coffee plants are now cultivated in over 70 countries, mostly in the equatorial regions of the "
                 "Americas.",  # its own sentence, a word changed
                 "The genus is native to tropical Africa, and is now cultivated in over 70 countries."):
        assert m.swapped_ending(kept, coffee, ["Where does it come from?"]) is None, kept


def test_a_passage_sentence_read_out_after_words_of_its_own_is_another_claim():
    honey = [("Honey", "Honey is a sweet and viscous substance made by several species of bees, the "
                       "best-known of which are honey bees.")]
    made_up = ("Oh, Honey bees are a sweet and viscous substance made by several species of bees, the best-known "
               "of which are honey bees.")  # a chat reply
    assert m.swapped_lead(made_up, honey) == made_up
    assert m.is_hallucinated(made_up, honey[0][1], ["What do you know about honey bees?"]) is False  # what the words miss
    for kept in ("Honey is a sweet and viscous substance made by several species of bees.",
                 "It is a sweet and viscous substance made by several species of bees.",  # a pronoun
                 "I know that honey is a sweet and viscous substance made by several species of bees.",
                 "It is worth a mention that honey is a sweet and viscous substance made by several species of bees.",
                 "Honey bees make honey."):  # no read-out run
        assert m.swapped_lead(kept, honey) is None, kept
    friends = [("Monica Geller", "Monica Geller is a fictional character, one of the six main characters who "
                                 "appeared in the American sitcom Friends."),
               ("Rachel Green", "Rachel Karen Green is a fictional character, one of the six main characters who "
                                "appeared in the American sitcom Friends.")]
    assert m.swapped_lead("I know Rachel Karen Green is one of the six main characters who appeared in the "
                          "American sitcom Friends.", friends) is None  # Rachel's sentence holds it
    assert m.swapped_lead("Ross Geller is one of the six main characters who appeared in the American sitcom "
                          "Friends.", friends)
    giraffe = [("Giraffe", "They are the tallest living terrestrial animals and the largest ruminants on Earth.")]
    assert m.swapped_lead("Giraffes are the tallest living terrestrial animals on Earth.", giraffe) is None  # the title
    japan = [("Japan", "Tokyo is the country's capital and largest city.")]
    renamed = "Japan is the country's capital and largest city."  # a chat reply: the title for another name
    assert m.swapped_lead(renamed, japan) == renamed
    assert m.swapped_lead("Tokyo is the country's capital and largest city.", japan) is None
    mauna_loa = [("Mauna Loa", "It was historically considered to be the largest volcano on Earth until the "
                               "submarine mountain Tamu Massif was discovered to be larger.")]
    assert m.swapped_lead("Mount Fuji was historically considered to be the largest volcano on Earth.", mauna_loa)
    moon = [("Moon landing", "The first human-made object to touch the Moon was Luna 2 in 1959, and the first "
                             "crewed mission to land on the Moon was Apollo 11 in 1969.")]
    blend = "The first crewed or robotic spacecraft to touch the Moon was Apollo 11 in 1969."  # a chat reply
    assert m.swapped_lead(blend, moon) == blend
    assert m.swapped_lead("The first crewed mission to land on the Moon was Apollo 11 in 1969.", moon) is None


def test_a_subject_that_the_passages_name_as_the_agent_is_a_claim_turned_round():
    honey = [("Honey", "Honey is made and stored to nourish bee colonies."),  # as the chat retrieved them
             ("Honey", "Bees produce honey by gathering and then refining the sugary secretions of plants or the "
                       "secretions of other insects, like the honeydew of aphids."),
             ("Honey", "This refinement takes place both within individual bees, through regurgitation and "
                       "enzymatic activity, and during storage in the hive, through water evaporation that "
                       "concentrates the honey's sugars until it is thick and viscous.")]
    said = ["What do you know about honey bees?",
            "Honey is a sweet and viscous substance made by several species of bees, the best-known of which "
            "are honey bees.",
            "How do they make honey?"]
    made_up = "Honey bees are made by the process of regurgitation and the production of honey."  # a chat reply
    assert m.swapped_roles(made_up, honey, said) == made_up  # the agent was named in a reply before
    assert m.swapped_roles(made_up, honey, said[:1]) is None  # nothing names bees as the agent
    knowledge = "\n".join(f"{title}: {text}" for title, text in honey)  # as the chat gives it
    assert m.is_hallucinated(made_up, knowledge, said) is False  # what the words miss
    for kept in ("Honey is made by several species of bees.", "Bees make honey.",
                 "Honey is made and stored by honey bees to nourish their colonies."):
        assert m.swapped_roles(kept, honey, said) is None, kept
    cuisine = [("Italian cuisine", "French cuisine was influenced by Italian cuisine in the 16th century.")]
    assert m.swapped_roles("Italian cuisine was influenced by French cuisine.", cuisine)
    assert m.swapped_roles("French cuisine was strongly influenced by Italian cuisine.", cuisine) is None
    assert m.swapped_roles("Is Italian cuisine influenced by French cuisine?", cuisine) is None  # asks


def test_a_word_said_twice_in_a_row_is_a_stumble_unless_the_passages_write_it_so():
    shark = "An individual with a length of 18.8 m (61.7 ft) has been considered the largest reliably recorded."
    reply = "The individual with a length of 18.8 m (61.7 ft) is considered to be the largest reliably reliably recorded."
    assert m.doubled_word(reply, [shark]) == "reliably reliably"  # a chat reply
    assert m.doubled_word("She danced the cha cha all night.", ["The cha cha is a Cuban dance."]) is None
    assert m.doubled_word("It was a very very long time ago.", []) is None  # stress
    assert m.doubled_word("Oh, ame ame, amaterasu.", []) is None  # three letters: left to the measure
    assert m.doubled_word("The the tower is tall.", []) is None  # an article: too short to tell


def test_a_passage_sentence_read_to_its_end_then_stuttered_runs_on():
    composer = [("Amalric Sorensby", "He was born in 1803 in the town of Kelvo."),
                ("Amalric Sorensby", "He taught at the Royal Academy of Tarnholm for thirty years.")]
    stutter = "He was born in 1803 in the town of Kelvo in the 1803 Amalric Sorensby was born"  # a chat reply
    assert m.runs_on(stutter, composer) == stutter
    assert m.is_hallucinated(stutter, "\n".join(t for _, t in composer), ["Where was Amalric Sorensby born?"]) is False
    for kept in ("He was born in 1803 in the town of Kelvo.",
                 "He was born in 1803 in the town of Kelvo, which he loved.",  # says more: other checks
                 "He was born in 1803 in the town of Kelvo. Amalric Sorensby was born there."):  # a sentence of its own
        assert m.runs_on(kept, composer) is None, kept


def test_the_relation_a_question_asks_needs_a_passage_that_states_it():
    cities = [("Adelaide", "Adelaide is the capital and most populous city of South Australia, as well as the "
                           "fifth-most populous city in Australia."),
              ("Sydney", "Sydney is the capital city of the state of New South Wales and the most populous city "
                         "in Australia.")]  # as the chat retrieved them
    asked = ["whats the capital of australia"]
    assert m.unheld_relation("The capital of Australia is Sydney", cities, asked) == "capital of Australia"
    assert m.is_hallucinated("The capital of Australia is Sydney", "\n".join(t for _, t in cities), asked) is False
    canberra = [("Canberra", "Canberra is the capital city of Australia.")]
    assert m.unheld_relation("The capital of Australia is Canberra.", cities + canberra, asked) is None
    perth = [("Perth", "Perth is the capital city of Western Australia.")]
    assert m.unheld_relation("The capital of Australia is Perth.", perth, asked) == "capital of Australia"
    assert m.unheld_relation("The capital of Western Australia is Perth.", perth,
                             ["What is the capital of Western Australia?"]) is None
    assert m.unheld_relation("Australia's capital is Canberra.", [("Canberra", "It is Australia's capital.")],
                             asked) is None
    assert m.unheld_relation("Sydney is the capital city of New South Wales.", cities, asked) is None  # not asked
    assert m.unheld_relation("The capital of Australia is Sydney", cities, ["I love Sydney."]) is None  # no question


def test_an_office_claimed_of_a_name_needs_a_passage_or_turn_that_relates_them():
    kyoto = [("Kyoto", "Kyoto is the capital city of Kyoto Prefecture in the Kansai region of Japan.")]
    said = ["I'm going to Kyoto next month."]  # no question: the claim is made all the same
    assert m.unheld_title("Kyoto is the capital city of Japan and the capital of Honshu.", kyoto, said) == \
        "city of Japan"
    assert m.unheld_title("Kyoto is the capital city of Kyoto Prefecture.", kyoto, said) is None
    assert m.unheld_title("It is in the Kansai region of Japan.", kyoto, said) is None  # no office claimed
    assert m.unheld_title("Paris is the capital of France.", [], ["Paris is the capital of France, right?"]) is None
    assert m.unheld_title("Daegu is the capital of South East Africa.", [("Daegu", "Daegu is a city in South Korea.")]) \
        == "capital of South"


def test_a_superlative_without_the_rank_its_passage_gives_it_is_another_claim():
    neptune = [("Neptune", "Neptune is the eighth and farthest known planet orbiting the Sun."),
               ("Neptune", "It is the fourth-largest planet in the Solar System by diameter, the third-most-massive "
                           "planet, and the densest giant planet.")]
    made_up = "Neptune is the largest planet in the solar system."  # a chat reply
    assert m.dropped_rank(made_up, neptune) == made_up
    assert m.is_hallucinated(made_up, "\n".join(t for _, t in neptune), ["What's the biggest planet?"]) is False
    for kept in ("Neptune is the fourth-largest planet in the solar system.", "It is the fourth largest planet.",
                 "Neptune is the farthest known planet."):
        assert m.dropped_rank(kept, neptune) is None, kept
    assert m.dropped_rank("Jupiter is the largest planet.", [("Jupiter", "Jupiter is the largest planet.")]) is None
    cities = [("Alexandria", "It is one of the largest cities in Egypt.")]
    assert m.dropped_rank("It is the largest city in Egypt.", cities)
    assert m.dropped_rank("It is one of the largest cities in Egypt.", cities) is None
    desert = [("Arabian Desert", "It is the fourth largest desert in the world and the largest in Asia.")]
    made_up = "It is the largest desert in the world and the largest in Asia."  # a chat reply
    assert m.dropped_rank(made_up, desert) == made_up
    assert m.dropped_rank("It is the fourth largest desert in the world and the largest in Asia.", desert) is None


def test_a_superlative_that_the_passages_give_another_thing_is_moved():
    passages = [("Neptune", "Neptune is the eighth and farthest known planet orbiting the Sun."),
                ("Triton (moon)", "Triton is the largest natural satellite of the planet Neptune.")]
    made_up = "Neptune is the largest planet in the solar system."  # a chat reply, as it retrieved them
    assert m.moved_superlative(made_up, passages) == made_up
    assert m.moved_superlative("Triton is the largest satellite of Neptune.", passages) is None
    assert m.moved_superlative("Neptune is at least the farthest known planet.", passages) is None
    mauna_loa = [("Mauna Loa", "It was historically considered to be the largest volcano on Earth until the "
                               "submarine mountain Tamu Massif was discovered to be larger.")]
    assert m.moved_superlative("It is the submarine volcano Tamu Massif, which is the largest volcanic mountain on "
                               "Earth.", mauna_loa) is None  # a word of the same root


def test_a_quote_must_be_written_by_a_passage_or_the_dialogue():
    titanic = [("Titanic (1997 film)", "Titanic is a 1997 American epic romance-disaster film directed by "
                "James Cameron. It was the most expensive film ever made at the time.")]
    frozen = [("Frozen", 'The film is inspired by Hans Christian Andersen\'s fairy tale "The Snow Queen".')]
    made_up = 'I think the most expensive film ever made at the time was the film "The I.T.A.S.S."'
    assert m.unheld_quote(made_up, titanic, ["Tell me about the Titanic."]) == "The I.T.A.S.S"
    for held in ('It is inspired by the fairy tale "The Snow Queen".',
                 "It is inspired by the fairy tale \u201cthe snow queen\u201d.",  # curly, any case
                 'Andersen wrote "The Snow Queen" and more.', "No quotes at all."):
        assert m.unheld_quote(held, frozen, ["Hi"]) is None, held
    assert m.unheld_quote('You said "tell me more", so here goes.', frozen, ["Tell me more."]) is None
    assert m.unheld_quote('Its motto is "Always Ready".', frozen, ["Hi"]) == "Always Ready"


def test_a_passage_sentence_read_out_without_its_verb_is_a_stumble():
    written = ["The first race was held in 1889.", "Its call sounds like a creaking door."]
    assert m.cut_verb("The first race in 1889.", written) == "was held"
    for kept in ("The first race was held in 1889.", "The first race was in 1889.",  # shortened, a verb kept
                 "Its call a creaking door. The first race was held in 1889.", "A race in 1889."):
        assert m.cut_verb(kept, written) is None, kept
    assert m.cut_verb("Its call is a creaking door.", written) is None
