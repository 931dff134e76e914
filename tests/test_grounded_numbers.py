"""Numbers in a reply come from its passage or the dialogue (rag_dialogue/grounded_numbers.py)."""

import pytest
import torch
from conftest import ngram_blocked_after

from rag_dialogue.grounded_numbers import (AllowedNumbers, NumberTokens, _counts_of, answering_sentences, asked_number,
                                           asks_for_number, close_unstated_numbers, closed_tokens, counted_thing, counts_another_whole,
                                           gives_no_number,
                                           hold_end_until_number, holds_the_event, number_about, number_check, numbers_in, numbers_per_row,
                                           spare_numbers_from_ngram_blocking, states_asked_number, states_number,
                                           trailing_number, unheld_number)
from rag_dialogue.rag import rag_token_next_log_probs

FUJI = "Mount Fuji / Mount Fuji last erupted from 1707 to 1708."
PELEE = "Mount Pelée / Its most recent eruption was in 1932."


def test_a_number_may_be_written_with_or_without_its_separators():
    assert numbers_in(["It is 8,848.86 m (29,031.7 ft) high.", "first climbed on 29 May 1953"]) == \
        {"8,848.86", "8848.86", "29,031.7", "29031.7", "29", "1953"}
    assert numbers_in(["On May 3, 1903.", "12500 people"]) == {"3", "1903", "12500", "12,500"}
    assert trailing_number("It is 8,84") == "8,84" and trailing_number("It is 8848.") == "8848."
    assert trailing_number("It is tall.") == ""


@pytest.fixture(scope="module")
def tokens(smollm2_tokenizer):
    return NumberTokens(smollm2_tokenizer, len(smollm2_tokenizer))


def _open_digits(tokenizer, tokens, text, allowed):
    closed, only = closed_tokens(text, allowed, tokens)
    pieces = tokens.number_pieces
    if only:
        return {pieces[i] for i in closed}
    return {p for i, p in tokens.digits.items() if i not in closed}


def test_smollm2_writes_a_number_a_digit_at_a_time(smollm2_tokenizer, tokens):
    assert sorted(tokens.digits.values()) == list("0123456789")
    assert sorted(tokens.separators.values()) == [",", "."]


def test_a_number_may_only_go_the_way_of_one_the_row_holds(smollm2_tokenizer, tokens):
    allowed = AllowedNumbers.of(["When did Mount Fuji last erupt?", FUJI])

    def open_after(text):
        return _open_digits(smollm2_tokenizer, tokens, text, allowed)

    assert open_after("It last erupted from ") == {"1"}  # 1707 and 1708 begin so
    assert open_after("It last erupted from 1") == {"7"}  # unfinished: only its way on
    assert open_after("It last erupted from 170") == {"7", "8"}
    assert open_after("It last erupted from 1707") == set()  # whole: no digit more
    everest = AllowedNumbers.of(["It is 8,848.86 m high."])
    assert _open_digits(smollm2_tokenizer, tokens, "It is 8,848", everest) == {"."}  # 8,848 is not theirs
    # a separator goes only where the number has one: "1,5" is not how 15 is written
    fifteen = AllowedNumbers.of(["It is 15 times longer.", "It is 1,500 km long."])
    assert _open_digits(smollm2_tokenizer, tokens, "about 1", fifteen) == {"5", ","}
    assert _open_digits(smollm2_tokenizer, tokens, "about 1,5", fifteen) == {"0"}


def test_each_row_keeps_to_its_own_passage_and_the_mixture_follows_the_prior(smollm2_tokenizer, tokens):
    """RAG-Token's two rows after "from 1707 to 1": the generator likes "9" (a year of the
    1900s) under both; closed per row, the Fuji row can only say "7" (1708), the Pelée row
    only "9" (1932), and the prior, which favours Fuji, decides."""
    vocab = len(smollm2_tokenizer)
    seven, nine = (smollm2_tokenizer.convert_tokens_to_ids(d) for d in ("7", "9"))
    logits = torch.zeros(2, vocab)
    logits[:, nine], logits[:, seven] = 8.0, 2.0
    rows = numbers_per_row(["When did it last erupt?"], [[tuple(FUJI.split(" / ")), tuple(PELEE.split(" / "))]],
                           row_per_passage=True)
    texts = ["It last erupted from 1707 to 1"] * 2
    closed = close_unstated_numbers(logits, texts, rows, tokens)
    prior = torch.tensor([[3.0, 0.0]])
    assert rag_token_next_log_probs(logits[:, None], prior).argmax(-1).item() == nine  # free: "1987"-style
    assert rag_token_next_log_probs(closed[:, None], prior).argmax(-1).item() == seven
    assert closed[0].isfinite().sum() == 1 and closed[1].isfinite().sum() == 1
    # a row whose passage states no number may not begin one, and keeps its words
    words = close_unstated_numbers(torch.zeros(1, vocab), ["It is "], [AllowedNumbers.of(["It is tall."])], tokens)
    space = smollm2_tokenizer.convert_tokens_to_ids("Ġ")
    assert tokens.spaces == [space]  # the lone space SmolLM2 writes before a number's digits
    assert words[0, seven].item() == float("-inf") and words[0, space].item() == float("-inf")
    assert words[0].isfinite().sum() == vocab - 11
    # a row that may state a number may begin one
    begins = close_unstated_numbers(torch.zeros(1, vocab), ["It is"], [AllowedNumbers.of(["It is 330 m tall."])], tokens)
    assert begins[0, space].item() == 0.0
    free = torch.zeros(1, vocab)  # every digit may begin a number: nothing closed, nothing copied
    assert close_unstated_numbers(free, ["It is "], [AllowedNumbers.of(["0 1 2 3 4 5 6 7 8 9"])], tokens) is free


def test_rows_follow_the_models_layout():
    passages = [[("A", "It is 12 m."), ("B", "It is 7 m.")], [("C", "In 1999."), ("D", "")]]
    per_passage = numbers_per_row(["Is it 3 m?", "Hi"], passages, row_per_passage=True)
    assert [sorted(r.whole) for r in per_passage] == [["12", "3"], ["3", "7"], ["1999"], []]
    fused = numbers_per_row(["Is it 3 m?", "Hi"], passages, row_per_passage=False)  # FiD: one row an example
    assert [sorted(r.whole) for r in fused] == [["12", "3", "7"], ["1999"]]


def test_ngram_blocking_passes_over_numbers_but_not_words(smollm2_tokenizer, tokens):
    """ParlAI's greedy search with --beam-block-ngram 3: "1707 to 1708" repeats the trigram
    "1 7 0" and "38,000,000" the trigram "0 0 0"; word loops stay blocked."""
    def blocked_after(text, spared):
        return ngram_blocked_after(smollm2_tokenizer, text, (lambda tree: spare_numbers_from_ngram_blocking(tree, tokens)) if spared else None)

    assert blocked_after("from 1707 to 17", spared=False) == {"0"}  # ParlAI alone: "1708" cannot be written
    assert blocked_after("from 1707 to 17", spared=True) == set()
    assert blocked_after("38,000,00", spared=True) == set()
    assert blocked_after("I saw the tower and the tower", spared=True) == {" and"}
    assert blocked_after("It is 1 1 1", spared=True) == {" "}  # a number said again is a new word: blocked


@pytest.mark.parametrize("message", [
    "How long is the Panama Canal?", "how many moons does Mars have", "When did the Titanic sink?",
    "In what year was it built?", "What is the population of Tokyo?", "And how tall is it?"])
def test_a_message_that_asks_for_a_number(message):
    assert asks_for_number(message)


@pytest.mark.parametrize("message", [
    "How much do you like jazz?", "I love it when it rains.", "Which continents border it?",
    "What is the Great Wall made of?", "Who wrote it?"])
def test_a_message_that_does_not(message):
    assert not asks_for_number(message)


def test_a_number_stated_in_digits_or_words():
    assert states_number("It is 5,895 m high.") and states_number("Three living species are recognised.")
    assert not states_number("It is the highest mountain in Africa.")


def test_the_kind_of_number_asked_for():
    assert asked_number("How tall is the Eiffel Tower?") == "measure"
    assert asked_number("What is the length of the Nile?") == "measure"
    assert asked_number("How many bones are in the human body?") == "count"
    assert asked_number("What is the population of Tokyo?") == "count"
    assert asked_number("When did World War II end?") == "date" == asked_number("In what year was it built?")
    assert asked_number("How much do you like jazz?") is None
    # when something recurs is no year: no passage's lack of one declines it
    assert asked_number("When is Crellish pie traditionally eaten?") is None


EIFFEL = [("Eiffel Tower", "Gustave Eiffel's company designed and built the tower from 1887 to 1889.")]


def test_only_a_number_of_the_kind_asked_is_awaited():
    assert not number_about("measure", ["Eiffel Tower"], "How tall is the Eiffel Tower?", EIFFEL)  # years
    assert number_about("date", ["Eiffel Tower"], "When was the Eiffel Tower built?", EIFFEL)
    assert not number_about("count", ["Eiffel Tower"], "How many ...?", EIFFEL)  # a year is no count
    assert number_about("measure", ["Panama Canal"], "How long is it?",
                        [("Panama Canal", "The Panama Canal is an artificial 82-kilometer (51-mile) waterway.")])
    assert number_about("count", ["octopus"], "How many species?", [("Octopus", "The order consists of some 300 species.")])


KILIMANJARO = [("Mount Kilimanjaro", "Mount Kilimanjaro is a large dormant volcano in Tanzania."),
               ("Mount Kilimanjaro", "It is the highest mountain in Africa, at 5,895 m above sea level.")]


def test_a_number_is_awaited_only_from_a_passage_about_what_is_named():
    assert number_about("measure", ["Mount Kilimanjaro"], "How tall is Mount Kilimanjaro?", KILIMANJARO)
    assert not number_about("measure", ["Mount Kilimanjaro"], "Is it 5,895 m tall?", KILIMANJARO)  # said already
    strait = [("Strait of Magellan", "The strait is approximately 570 km long.")]
    assert not number_about("measure", ["deep", "Pacific Ocean"], "How deep is it?", strait)  # about something else


def test_a_reply_awaiting_a_number_may_not_end_a_sentence_without_one(smollm2_tokenizer):
    from rag_dialogue.reply_length import ending_tokens

    vocab = len(smollm2_tokenizer)
    ending = ending_tokens(smollm2_tokenizer, vocab, [smollm2_tokenizer.eos_token_id])
    ids = {p: smollm2_tokenizer.convert_tokens_to_ids(p) for p in [".", "?", "Ċ", "Ġthe", ","]}
    assert ending[smollm2_tokenizer.eos_token_id] and ending[ids["."]] and ending[ids["?"]] and ending[ids["Ċ"]]
    assert not ending[ids["Ġthe"]] and not ending[ids[","]]
    log_probs = torch.zeros(3, vocab)
    texts = ["It is the highest mountain", "It is 5", "It is the highest mountain"]
    held = hold_end_until_number(log_probs, texts, [True, True, False], ending, max_length=48, length=6)
    assert torch.isinf(held[0, ending]).all() and torch.isfinite(held[0, ~ending]).all()
    assert torch.equal(held[1:], log_probs[1:])  # a number stated; a row that awaits none
    assert hold_end_until_number(log_probs, texts, [True, True, False], ending, max_length=48, length=48) is log_probs


BASKETBALL = [("Basketball", "Basketball is a team sport in which two teams of five players each oppose one "
                             "another on a rectangular court."),
              ("Netball", "Netball is a ball sport played on a rectangular court by two teams of seven players."),
              ("Great Pyramid of Giza", "It is the oldest of the Seven Wonders. It was built c. 2600 BC over "
                                        "a period of about 26 years.")]


def test_how_old_is_answered_by_an_age_a_time_or_a_year():
    """"How old is the universe?" was answered by "... 93 billion light-years in diameter"."""
    asked = "How old is the universe?"
    size = "The observable portion of the universe is approximately 93 billion light-years in diameter."
    age = "The universe has been expanding for 13.8 billion years."
    assert gives_no_number(size, asked) and not gives_no_number(age, asked)
    assert not gives_no_number("He died in 1922, aged 75.", "How old was he?")
    assert not gives_no_number("It was built in 1889.", "How old is it?")
    assert answering_sentences(asked, ["universe"], [("Universe", f"{size} {age}")]) == [age]


def test_a_count_is_of_the_thing_counted():
    assert counted_thing("How many players does a basketball team have?") == "players"
    assert counted_thing("How old is it?") is None
    assert _counts_of("players", "two teams of five players each") == {"5"}
    assert _counts_of("limbs", "a soft-bodied, eight-limbed mollusc") == {"8"}
    assert _counts_of("plays", "some 39 plays, 154 sonnets") == {"39"}
    # people are counted as inhabitants, residents, or a population
    russia = "With a population of over 140 million, Russia is the most populous country in Europe."
    assert _counts_of("people", russia) == {"140"} and _counts_of("players", russia) == set()
    assert _counts_of("people", "It has 8,537,673 residents.") == {"8537673"}


def test_a_reply_must_give_the_number_its_passage_answers_with():
    asked = "How many players does a basketball team have on the court?"
    names = ["basketball", "team", "players", "court"]
    sentences = answering_sentences(asked, names, BASKETBALL)
    # only the passage about what is asked: netball's seven players are another sport's
    assert sentences == [BASKETBALL[0][1]]
    assert not states_asked_number("A basketball team consists of two players each.", asked, sentences)
    assert states_asked_number("Each team has five players on the court.", asked, sentences)
    # a date asked for: a duration of the same sentence does not answer it ("c. 2600 BC" is one sentence)
    asked = "When was the Great Pyramid of Giza built?"
    sentences = answering_sentences(asked, ["Great Pyramid of Giza"], BASKETBALL)
    assert sentences == ["It was built c. 2600 BC over a period of about 26 years."]
    assert not states_asked_number("It was built over a period of about 26 years.", asked, sentences)
    assert states_asked_number("It was built around 2600 BC.", asked, sentences)
    # a question for more than a number, or for none, is left to the generator
    assert answering_sentences("When was it built, and where?", ["Great Pyramid of Giza"], BASKETBALL) == []
    assert answering_sentences("Who built the Great Pyramid of Giza?", ["Great Pyramid of Giza"], BASKETBALL) == []


def test_without_a_passage_titled_by_the_subject_the_one_holding_most_names_answers():
    asked = "How many players are on a soccer team?"
    passages = [("Players", "Players are allowed to draw additional cards to improve their hands."),
                ("Volleyball", "Volleyball is a team sport in which two teams of six players are separated by a net."),
                ("Association", "Association football, more commonly known as football or soccer, is a team "
                                "sport played between two teams of eleven players with a spherical ball.")]
    sentences = answering_sentences(asked, ["players", "soccer", "team"], passages)
    assert sentences == [passages[2][1]]
    assert not states_asked_number("A soccer team consists of six players.", asked, sentences)
    assert states_asked_number("A soccer team has 11 players.", asked, sentences)
    # two passages holding as many names: neither is taken
    assert answering_sentences(asked, ["players", "team"], passages[1:]) == []
    # the question's verb, which names no article, counts as what the passage tells of its name
    wall = [("Erich Honecker", "Erich Ernst Paul Honecker was a German communist politician who led the German "
                               "Democratic Republic from 1971 until shortly before the fall of the Berlin Wall in "
                               "November 1989.")]
    assert answering_sentences("When did the Berlin Wall fall?", ["Berlin Wall"], wall) == [wall[0][1]]
    assert answering_sentences("When was the Berlin Wall built?", ["Berlin Wall"], wall) == []
    # ... and among passages about its name, it picks the article: the sinking, not the film
    titanic = [("Sinking of the Titanic", "RMS Titanic sank in the North Atlantic Ocean on 15 April 1912."),
               ("Titanic", "Titanic is a 1997 American epic romance-disaster film directed by James Cameron.")]
    assert answering_sentences("When did the Titanic sink?", ["Titanic"], titanic) == [titanic[0][1]]
    assert answering_sentences("When was Titanic made?", ["Titanic"], titanic) == [titanic[1][1]]


def test_the_sentences_holding_the_question_s_words_answer():
    iphone = [("IPhone", "Apple has been the largest vendor of mobile phones since 2023."),
              ("IPhone", "The first-generation iPhone was announced by Steve Jobs on January 9, 2007, and launched "
                         "in June 2007."),
              ("IPhone", "The first iPhone to be made of titanium was announced in September 2024.")]
    # the sentence ranked first gives a date too, of another thing: those holding most of its words answer
    asked = "When did the first iPhone come out?"
    sentences = answering_sentences(asked, ["iPhone"], iphone)
    assert sentences == [iphone[1][1], iphone[2][1]]
    assert not states_asked_number(iphone[0][1], asked, sentences)
    assert answering_sentences("When was the first titanium iPhone made?", ["iPhone"], iphone) == [iphone[2][1]]
    # where none holds a word of the question beyond their title's, the ranking's order stays
    assert answering_sentences("When was it?", ["iPhone"], iphone) == [s for _, s in iphone]
    tower = [("Eiffel Tower", "It was the tallest man-made structure in the world until 1930."),
             ("Eiffel Tower", "It was constructed from 1887 to 1889 as the centerpiece of the 1889 World's Fair.")]
    assert answering_sentences("When was the Eiffel Tower built?", ["Eiffel Tower"], tower) == [s for _, s in tower]


def test_a_measure_is_not_a_date():
    assert number_check("When did the Marrowgate Bridge open?")("The bridge opened in 1932.")
    assert not number_check("When did the Marrowgate Bridge open?")("Its main span is 412 metres long.")
    assert number_check("How many works did Mozart complete?")("He completed more than 800 works.")
    assert not number_check("How many works did Mozart complete?")("He completed Symphony No. 41 in 1788.")
    assert number_check("Who was Mozart?") is None


def test_a_count_per_another_whole_does_not_answer_a_count_question():
    body = "How many bones are in the human body?"
    assert counts_another_whole("There are thirty bones in each leg.", body)  # a chat reply: true, not the answer
    for answer in ("The adult human skeleton is made up of 206 bones.", "There are 206 bones in an adult human body.",
                   "A leg has thirty bones, I think."):
        assert not counts_another_whole(answer, body), answer
    assert not counts_another_whole("There are 88 keys on a standard piano.", "How many keys does a piano have?")
    assert not counts_another_whole("There are thirty bones in each leg.", "How many bones are in a leg?")
    assert not counts_another_whole("There are thirty bones in each leg.", "When were bones first studied?")


def test_of_the_passages_about_it_those_whose_title_holds_most_of_the_names_answer():
    from rag_dialogue.abstain import conversation_names

    asked = "How big is a great white shark?"  # as the chat retrieved them
    sharks = [("Whale shark", "An individual with a length of 18.8 m (61.7 ft) has been considered the largest "
                              "reliably recorded."),
              ("Great white shark", "The white shark is one of the largest living shark and fish species."),
              ("Great white shark", "It can reach a length of 6.1 m (20 ft).")]
    names = conversation_names(asked, ["I'm watching a documentary about sharks.", "Sharks are fish.", asked])
    assert answering_sentences(asked, names, sharks) == ["It can reach a length of 6.1 m (20 ft)."]
    assert answering_sentences(asked, names, sharks[:2]) == []  # not the whale shark's length
    assert answering_sentences("How big is a whale shark?", ["whale", "shark", "big"], sharks[:2]) == [sharks[0][1]]


def test_of_the_passages_about_it_those_whose_title_adds_least_answer():
    asked = "How many strings does a guitar have?"
    guitars = [("Bass guitar", "The bass guitar is similar in appearance to the guitar, but it has four strings."),
               ("Guitar", "The guitar is a fretted musical instrument that typically has six strings.")]
    assert answering_sentences(asked, ["guitar"], guitars) == [guitars[1][1]]
    assert answering_sentences(asked, ["guitar"], guitars[:1]) == []  # a bass guitar alone is not a guitar
    sharks = [("Whale shark", "An individual with a length of 18.8 m has been recorded."),
              ("Shark", "Sharks range in size from the 17 cm dwarf lanternshark to the 12 m whale shark.")]
    assert answering_sentences("How long can a shark grow?", ["shark"], sharks) == [sharks[1][1]]
    assert answering_sentences("How long can a shark grow?", ["shark"], sharks[:1]) == [sharks[0][1]]


def test_a_reply_that_gives_a_number_of_the_kind_asked_that_no_passage_gives():
    # as the chat retrieved them for "How many players are on a team?" after basketball
    sports = [("Volleyball", "Volleyball is a team sport in which two teams of six players are separated by a net."),
              ("Netball", "Netball is a ball sport played on a rectangular court by two teams of seven players.")]
    asked = "How many players are on a team?"
    assert unheld_number("There are two players on a team.", asked, sports)  # two counts teams
    assert not unheld_number("There are six players on a volleyball team.", asked, sports)
    assert not unheld_number("It is a team sport.", asked, sports)  # gives no count: another check's
    # a count of another thing, what is asked not named
    assert unheld_number("At least 45,700 spider species have been recorded.", "How many legs do they have?", [])
    assert not unheld_number("Spiders have eight legs.", "How many legs do they have?", [("Spider", "eight legs")])
    assert not unheld_number("The population is about 38 million.", "How many people live in Tokyo?", [])
    # a count of others after its scale: Spanish's speakers do not count Brazil's people
    speakers = "Today, it is a global language with 519 million native speakers, mainly in the Americas."
    assert unheld_number(speakers, "And how many people live there?", [("Spanish language", speakers)])
    assert not unheld_number("There are two players on a team.", "Do you play?", sports)
    eiffel = [("Eiffel Tower", "The tower is 330 metres (1,083 ft) tall, and was completed in 1889.")]
    assert unheld_number("It is 324 metres tall.", "How tall is it?", eiffel)
    assert not unheld_number("It is 330 metres tall.", "How tall is it?", eiffel)
    assert unheld_number("It was built in 1887.", "When was it built?", eiffel)


def test_how_long_something_lives_or_takes_asks_for_a_time():
    assert asked_number("How long can a mossback tortoise live?") == "duration"
    assert asked_number("How long does it take to orbit the Sun?") == "duration"
    assert asked_number("How long is the Panama Canal?") == "measure"
    assert asked_number("How long have you lived there?") is None  # the listener
    assert asked_number("How long is Kesh pudding baked?") == "duration"  # ends in a verb's participle
    assert asked_number("How long has Hinduism been practiced for?") == "duration"
    assert asked_number("How long is the movie Frozen?") == "measure"  # a name, not a participle
    pudding = [("Kesh pudding", "The dish is baked for three hours in a clay pot.")]
    assert answering_sentences("How long is Kesh pudding baked?", ["Kesh pudding"], pudding) == [pudding[0][1]]
    tortoise = [("Mossback tortoise", "Individuals can live for more than 120 years."),
                ("Mossback tortoise", "Adults are 40 cm long.")]
    assert answering_sentences("How long can a mossback tortoise live?", ["mossback tortoise"], tortoise) == \
        [tortoise[0][1]]
    assert unheld_number("They live for 80 years.", "How long can they live?", tortoise)
    # when, not how long
    dog = [("Dog", "Dogs were the first species to be domesticated over 14,000 years ago.")]
    assert answering_sentences("How long do dogs live?", ["dogs"], dog) == []



def test_a_reply_without_a_number_to_a_question_for_one_gives_none():
    from rag_dialogue.grounded_numbers import gives_no_number

    assert gives_no_number("The biggest ocean is the ocean of the Pacific Ocean.", "How deep is it?")
    assert not gives_no_number("It is about 10,994 metres deep at its deepest.", "How deep is it?")
    assert not gives_no_number("It has eight arms.", "How many arms do they have?")
    assert not gives_no_number("I'm sorry, I don't know that.", "How deep is it?")
    assert not gives_no_number("It was built in the Middle Ages.", "When was it built?")  # a date in words
    assert not gives_no_number("It opened in May, after the war.", "When was it opened?")
    # a date asked, neither a number nor a time given ("may" is no month)
    cause = "It was caused by a combination of social, political, and economic factors."
    assert gives_no_number(cause, "When did it start?") and gives_no_number("It may be old.", "When was it built?")
    assert not gives_no_number("Technology moves fast.", "It's crazy how much technology has improved.")  # asks nothing
    # how often: a frequency, not any number
    roses = "The plants range in size and form, from trailing and erect shrubs to climbers up to 7 metres (23 ft) in height."
    assert gives_no_number(roses, "How often should I water them?")
    assert not gives_no_number("Old Faithful erupts about every 90 minutes.", "How often does it erupt?")
    assert not gives_no_number("It is held once a year, in June.", "How often is it held?")
    assert not gives_no_number("I'm sorry, I don't know that.", "How often should I water them?")


def test_how_often_is_answered_by_a_sentence_that_states_a_frequency():
    from rag_dialogue.grounded_numbers import answering_sentences

    olympics = [("Winter Olympic Games", "The next games are scheduled to be held between 1 and 17 February 2030 "
                                         "at the French Alps."),
                ("Olympic Games", "The Summer and Winter Olympics are each held every four years, and themselves "
                                  "occur two years apart within the four-year Olympiad.")]
    assert answering_sentences("How often are the Olympic Games held?", ["Olympic Games"], olympics) == \
        [olympics[1][1]]


def test_a_count_in_words_beyond_twelve_counts_and_a_number_in_a_name_does_not():
    # as the chat retrieved them for "How many pieces does each player have?" after chess
    chess = [("One Piece", "One Piece is a Japanese manga series written and illustrated by Eiichiro Oda."),
             ("Chess", 'The players, referred to as "White" and "Black", each control sixteen pieces: one king, '
                       "one queen, two rooks.")]
    asked = "How many pieces does each player have?"
    assert _counts_of("pieces", chess[1][1]) == {"16"}
    assert _counts_of("pieces", chess[0][1]) == set()  # the manga's name counts nothing
    assert answering_sentences(asked, ["chess"], chess) == [chess[1][1]]
    assert not states_asked_number(chess[0][1], asked, [chess[1][1]])
    assert unheld_number("There are forty pieces.", asked, chess)


def test_asked_when_someone_died_or_was_born_a_year_of_another_event_does_not_answer():
    bell = [("Alexander Graham Bell", "Alexander Graham Bell was a Scottish-born inventor."),
            ("Alexander Graham Bell", "He also co-founded the American Telephone and Telegraph Company (AT&T) in 1885.")]
    assert holds_the_event("Bell died on August 2, 1922.", "When did he die?")
    assert holds_the_event("Bell (1847\u20131922) was an inventor.", "When did he die?")
    assert not holds_the_event(bell[1][1], "When did he die?")
    assert holds_the_event(bell[1][1], "When was it founded?")  # asks of no life event
    # "natural-born" speaks of no birth
    assert not holds_the_event("... that he was not a natural-born citizen, in 2008.", "When was he born?")
    assert holds_the_event("He was born in Edinburgh in 1847.", "When was he born?")
    assert unheld_number(bell[1][1], "When did he die?", bell)
    assert not unheld_number("He died in 1922.", "When did he die?", bell + [("Bell", "Bell died in 1922.")])
    assert answering_sentences("When did he die?", ["Alexander Graham Bell"], bell) == []
    assert answering_sentences("How old was he when he died?", ["Alexander Graham Bell"],
                               bell + [("Alexander Graham Bell", "He died in 1922, aged 75.")]) == ["He died in 1922, aged 75."]


def test_how_much_of_a_thing_is_answered_by_an_amount_of_that_thing():
    assert counted_thing("How much caffeine is in a cup?") == "caffeine"
    assert counted_thing("How much do they weigh?") is None and counted_thing("How much longer will it last?") is None
    cup = [("Cup", "A cup is a small container with a capacity of about 6-16 US fluid ounces (177-473 ml).")]
    assert unheld_number(cup[0][1], "How much caffeine is in a cup?", cup)  # the cup's measure, not caffeine's
    coffee = [("Coffee", "A cup of brewed coffee holds about 95 mg of caffeine.")]
    assert not unheld_number("It holds about 95 mg of caffeine.", "How much caffeine is in a cup?", coffee)
    assert not unheld_number("It grossed $2.2 billion.", "How much money did it make?", [("Titanic", "It grossed $2.2 billion.")])


def test_a_measure_of_another_dimension_does_not_answer():
    sahara = [("Sahara", "With an area of 9,200,000 square kilometres (3,600,000 sq mi), it is the largest hot desert.")]
    assert unheld_number(sahara[0][1], "How hot does it get?", sahara)
    assert not unheld_number(sahara[0][1], "How big is it?", sahara)
    eiffel = [("Eiffel Tower", "The tower is 330 metres (1,083 ft) tall and weighs 10,100 tonnes.")]
    assert answering_sentences("How tall is the Eiffel Tower?", ["Eiffel Tower"], eiffel) == [eiffel[0][1]]
    assert not unheld_number("It is 330 metres tall.", "How tall is it?", eiffel)
    assert unheld_number("It weighs 10,100 tonnes.", "How tall is it?", eiffel)
    light = [("Speed of light", "The speed of light is approximately 299,792,458 m\u22c5s\u22121.")]
    assert answering_sentences("What is the speed of light?", ["speed of light"], light) == [light[0][1]]
    assert unheld_number("It is 299,792,458 m long.", "How fast is light?", light + [("Light", "It is 5 m long.")])
    # a unit written with a space: the number of one measure put to another's unit
    orion = [("Orion Nebula", "It is 1,267.0 ± 5.4 light-years (388.5 ± 1.7 pc) away from Earth.")]
    assert unheld_number("It is 1.7 light years away from Earth.", "How far away is it?", orion)
    assert not unheld_number("It is 5.4 light years away.", "How far away is it?", orion)


def test_when_was_that_is_answered_by_the_event_the_last_reply_told():
    from rag_dialogue.grounded_numbers import tells_another_event

    bell = ("Alexander Graham Bell was a Scottish-born Canadian-American inventor, scientist, and engineer who is "
            "credited with patenting the first practical telephone.")
    turns = ["Who invented the telephone?", bell, "When was that?"]
    assert tells_another_event("He also co-founded the American Telephone and Telegraph Company (AT&T) in 1885.",
                               "When was that?", turns)
    assert not tells_another_event("Bell was granted the patent for the telephone in 1876.", "When was that?", turns)
    assert not tells_another_event("I'm sorry, I don't know that.", "When was that?", turns)
    # a question that names what it asks the date of is another check's
    assert not tells_another_event("He co-founded AT&T in 1885.", "When did he found AT&T?", turns)


def test_how_many_times_counts_what_the_verb_did():
    from rag_dialogue.grounded_numbers import Occasions, counted_thing

    message = "How many times has Kestrel Rowing Club won the Orvane Cup?"
    thing = counted_thing(message)
    assert isinstance(thing, Occasions) and thing == "win"
    assert counted_thing("How many times did the team win the cup?") == "win"
    assert counted_thing("How many times was it rebuilt?") == "time"  # no verb found: times themselves
    assert _counts_of(thing, "The most successful crew is Kestrel Rowing Club, with 23 wins.") == {"23"}
    assert _counts_of(thing, "It has won the cup 23 times.") == {"23"}
    assert _counts_of(thing, "The course is 6 kilometres long.") == set()
    cup = [("Orvane Cup", "The most successful crew is Kestrel Rowing Club, with 23 wins.")]
    assert not unheld_number(cup[0][1], message, cup)  # was taken back: "wins" are no "times"
    assert unheld_number("Kestrel Rowing Club has 6 wins.", message, cup)


def test_a_count_is_no_date():
    from rag_dialogue.grounded_numbers import _numbers_of_kind, gives_no_number

    symphony = ("Symphonies are almost always scored for an orchestra ... which altogether number about 30 to 100 "
                "musicians.")
    assert _numbers_of_kind("date", symphony) == frozenset()
    assert gives_no_number(symphony, "When was the Harbour Symphony first performed?")
    assert not gives_no_number("Her best-known work is the Harbour Symphony, first performed in 2004.",
                               "When was the Harbour Symphony first performed?")
    assert _numbers_of_kind("date", "in 1850 sales rose") == {"1850"}  # a word of time before it
    # a decade is a time ("When did houseboats come into popularity?", a WoW wizard's)
    assert not gives_no_number("It has existed in the 50's & 60's.", "When did houseboats come into popularity?")
    assert _numbers_of_kind("date", "It was built in 1889 by Gustave Eiffel.") == {"1889"}


def test_how_much_does_it_cost_asks_for_a_price():
    from rag_dialogue.abstain import unanswered_number
    from rag_dialogue.grounded_numbers import _numbers_of_kind, gives_no_number

    message = "How much does the Marsh barometer cost?"
    assert asked_number(message) == "price" and asked_number("What is the price of a ticket?") == "price"
    assert asked_number("How much water is in it?") == "count" and asked_number("How much do you like it?") is None
    product = "Its best-selling product is the Marsh barometer, which is accurate to a tenth of a millibar."
    assert gives_no_number(product, message)  # a tenth of a millibar is no price
    assert unanswered_number(message, [("Talvero Instruments", product)]) == "I'm sorry, I don't know that."
    assert _numbers_of_kind("price", "Tickets cost $40 or 15 euros; it weighs 5 kg.") == {"40", "15"}
    assert unanswered_number(message, [("Talvero Instruments", "The Marsh barometer sells for $40.")]) is None


def test_how_many_people_a_place_holds_is_no_population():
    from rag_dialogue.grounded_numbers import Capacity

    message = "How many people could it hold?"
    assert isinstance(counted_thing(message), Capacity)
    assert not isinstance(counted_thing("How many people live in Rome?"), Capacity)
    rome = [("Rome", "The Metropolitan City of Rome Capital, with a population of 4.2 million, is the most populous "
                     "metropolitan city in Italy.")]
    assert unheld_number(rome[0][1], message, rome)  # of the Colosseum, said so in a chat
    assert not unheld_number(rome[0][1], "How many people live in Rome?", rome)
    colosseum = [("Colosseum", "It could hold an estimated 50,000 to 80,000 spectators.")]
    assert not unheld_number(colosseum[0][1], message, colosseum)
