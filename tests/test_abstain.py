"""Declining when the retrieved passages do not hold what a message asks about."""

import pytest

from rag_dialogue import abstain, metrics

PASSAGES = [
    ("Eiffel Tower", "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, "
                     "France. It is named after the engineer Gustave Eiffel, whose company designed "
                     "and built the tower."),
    ("Marie Curie", "Marie Curie was a Polish and naturalised-French physicist and chemist. She was "
                    "the first woman to win a Nobel Prize."),
    ("Chess", "Chess is a board game for two players. It is played on a chessboard with 64 squares "
              "arranged in an eight-by-eight grid."),
]


@pytest.mark.parametrize("message", [
    "Whose company designed and built the Eiffel Tower?",
    "Which Nobel Prize did Marie Curie win in 1911?",
    "how many squares does a chess board have",  # no names: its rare words are there
    "How tall is it?",  # a follow-up names nothing: the passages decide
    "I love the Eiffel Tower, it's lovely.",  # not a question
    "I really like Harry Potter.",  # not a question either: nothing to decline
    "Did Marie Curie meet Albert Einstein?",  # a name the passages hold: they may say
    "who wrote the opera the glass ferry",  # no names: answered (rare words miss paraphrases)
    "Awesome. How fast can a truck be driven?",  # a sentence-initial everyday word is no name
    "I heard Stephen Hawking on The Big Bang Theory. What do you think of him?",  # names only in passing
])
def test_answers_when_the_passages_hold_what_is_asked(message):
    assert abstain.unsupported_question(message, PASSAGES) is None


@pytest.mark.parametrize("message, about", [
    ("Who wrote the opera The Glass Ferry?", "The Glass Ferry"),
    ("What is the capital of Zubrovia?", "Zubrovia"),
    ('What is "The Silent Orchard" about?', "The Silent Orchard"),
    ("Tell me about Mount Everest.", "Mount Everest"),
    ("Tell me about the Glorbian Empire.", "the Glorbian Empire"),  # as the message wrote it
])
def test_declines_a_name_no_passage_holds(message, about):
    reply = abstain.unsupported_question(message, PASSAGES)
    assert reply == f"I'm sorry, I don't know anything about {about}."
    assert metrics.declines(reply) and not metrics.makes_claim(metrics.claims_beyond_decline(reply), [message])


def test_a_word_no_tokenizer_knows_is_declined_like_a_name(smollm2_tokenizer):
    is_word = abstain.tokenizer_vocabulary(smollm2_tokenizer)
    assert is_word("giraffe") and not is_word("glimmerfox")
    # plural and comparative forms are known by their dictionary form
    assert abstain.unknown_words("do giraffes eat the tallest glimmerfoxes?", is_word) == ["glimmerfoxes"]
    reply = abstain.unsupported_question("What does a glimmerfox eat?", PASSAGES, is_word)
    assert reply == "I'm sorry, I don't know anything about glimmerfox."
    # without the vocabulary, a question without names is answered, as before
    assert abstain.unsupported_question("What does a glimmerfox eat?", PASSAGES) is None
    # a known word mistyped, and a question to the listener, are no made-up things
    assert abstain.unknown_words("Did she write anythign else? Is it attactive?", is_word) == []
    assert abstain.unknown_words("Do you ever see a glimmerfox?", is_word) == []
    # a word the vocabularies lack that a passage holds is answered from it
    with_it = PASSAGES + [("Glimmerfox", "The glimmerfox is a small fox that eats moths.")]
    assert abstain.unsupported_question("What does a glimmerfox eat?", with_it, is_word) is None
    # everyday words stay answered ("How many squares does a chess board have?")
    assert abstain.unsupported_question("how many squares does a chess board have", PASSAGES, is_word) is None


def test_a_decline_names_at_most_two_things():
    assert abstain.decline_reply(["Zubrovia", "Quellarin", "Drennavia"]) == \
        "I'm sorry, I don't know anything about Zubrovia or Quellarin."


def test_a_name_must_be_whole_in_one_passage():
    # "Eiffel" and "Curie" are both there, but in different passages
    assert abstain.missing_names("Who was Eiffel Curie?", PASSAGES) == ["Eiffel Curie"]


def test_a_names_words_stand_side_by_side():
    festival = [("Chinese New Year", "Marking the end of winter and the beginning of spring, this festival "
                 "takes place from Chinese New Year's Eve to the Lantern Festival.")]
    assert abstain.missing_names("Who composed the symphony Winter Lanterns?", festival) == ["Winter Lanterns"]
    assert abstain.missing_names("When was Oxford University founded?",
                                 [("University of Oxford", "It is the oldest university in the English-speaking world.")]) == []
    assert abstain.missing_names("Where is the Lantern Festival held?", festival) == []


def test_retrieval_ranks_by_names_then_rarer_lowercase_words_then_everyday_ones():
    assert abstain.retrieval_names("How many species of octopus are there?") == ["species", "octopus", "many"]
    assert abstain.retrieval_names("How long is the Panama Canal?") == ["Panama Canal", "long"]  # no word twice
    assert abstain.retrieval_names("What do you think about that?") == []  # no content word


def test_a_questions_verb_names_no_article():
    # "Why did it sink?" (of the Titanic) ranked the article Sink first
    assert abstain.retrieval_names("Why did it sink?") == []
    assert abstain.retrieval_names("When did the Berlin Wall fall?") == ["Berlin Wall"]
    assert abstain.retrieval_names("How do birds fly?") == ["birds"]
    assert abstain.retrieval_names("What does a bee eat?") == ["bee"]
    # past an adverb: "first" is not the verb of "When did people first land on it?"
    assert abstain.asked_verbs("When did people first land on it?") == {"land"}
    assert abstain.asked_verbs("How long do cats usually live?") == {"live"}
    # ... and the adverb names nothing either: "Do they ever sleep?" is not about Ever
    assert abstain.retrieval_names("Do penguins ever sleep?") == ["penguins"]
    # a statement's words, and a noun after the verb, still name
    assert abstain.retrieval_names("I think they did it for money.") == ["money"]
    assert abstain.retrieval_names("Do you know who wrote Hamlet?")[0] == "Hamlet"


def test_names_skip_question_words_and_greetings():
    assert abstain.named_terms("Hi! Who is Isaac Newton? Tell me about the Statue of Liberty.") == \
        ["Isaac Newton", "Statue of Liberty"]
    assert abstain.named_terms("How are you? What do you like?") == []
    assert abstain.named_terms('My favorite was Mileena. Who were yours? What is "well executed"?') == ["Mileena"]


def test_repeats():
    earlier = ["The Eiffel Tower is a wrought-iron lattice tower in Paris.", "It is 330 metres tall."]
    assert abstain.repeats("The Eiffel Tower is a lattice tower in Paris, made of wrought iron.", earlier)
    assert abstain.repeats("It is 330 metres tall.", earlier)
    assert not abstain.repeats("It was built for the 1889 World's Fair.", earlier)
    assert not abstain.repeats("anything", [])


def test_says_back():
    assert abstain.says_back("I love coffee in the morning.", "I love coffee in the morning!")
    assert abstain.says_back("I know, I know.", "Where was coffee first grown?")  # nothing of substance
    assert not abstain.says_back("Gustave Eiffel's company built it.", "Who built the Eiffel Tower?")


def test_a_reply_that_says_nothing_new_is_generated_again():
    earlier = ["Mount Everest is the highest mountain on Earth."]
    assert abstain.says_nothing_new("The Himalayas are located in the Himalayas.", "Where is it?", earlier)
    assert abstain.says_nothing_new("Mount Everest is the highest mountain on Earth.", "How tall is it?", earlier)
    assert abstain.says_nothing_new("I love coffee.", "I love coffee!", earlier)
    assert abstain.says_nothing_new("  ", "Where is it?", earlier)
    assert not abstain.says_nothing_new("It is in the Himalayas, on the border of Nepal and China.", "Where is it?", earlier)
    assert not abstain.says_nothing_new("Paris.", "What is the capital of France?", earlier)  # short answers pass


def test_a_passage_holds_a_name_in_its_title_or_its_text():
    # held by the title and by the text; the article about Einstein counts his name one and a half
    assert abstain.names_held(["Albert Einstein", "Nobel Prize"], "Albert Einstein",
                              "He received the 1921 Nobel Prize in Physics.") == 2.5
    assert abstain.names_held(["Albert Einstein", "Nobel Prize"], "Albert A. Michelson",
                              "In 1907, he received the Nobel Prize in Physics.") == 1
    assert abstain.names_held(["Mars"], "Atmosphere of Earth", "The atmosphere of Earth is a layer of gas.") == 0


def test_a_passage_about_a_name_ranks_above_one_that_mentions_it():
    pacific = abstain.names_held(["Pacific Ocean"], "Pacific Ocean", "It is the largest and deepest ocean.")
    japan = abstain.names_held(["Pacific Ocean"], "Sea of Japan", "The archipelago separates the sea from the Pacific Ocean.")
    assert pacific == 1.5 and japan == 1
    assert abstain.names_held(["Mercury"], "Mercury (planet)", "It is the smallest planet.") == 1.5
    # an everyday word counts only as the title: "elephant" is held by many a text
    elephant = abstain.retrieval_names("How many living species of elephant are there?")
    assert "elephant" in elephant and "elephant" in metrics.default_rare_words().common
    primates = abstain.names_held(elephant, "Primate", "There are 376–524 species of living primates.")
    elephants = abstain.names_held(elephant, "Elephant", "Three living species are currently recognised: "
                                                         "the African bush elephant and the Asian elephant.")
    assert elephants == primates + 0.5
    assert abstain.names_held(["elephant"], "Asian elephant", "The Asian elephant is the largest living land animal.") == 0
    # the octopus's "some 300 species" holds both rarer words and is about one: above the article Species
    octopus = abstain.retrieval_names("How many species of octopus are there?")
    assert abstain.names_held(octopus, "Octopus", "The order consists of some 300 species.") > \
        abstain.names_held(octopus, "Species", "A species is a unit of classification.")
    # a verb's form names a subject only where the passage writes that form
    barking = abstain.retrieval_names("My dog keeps barking at night.")
    bark = abstain.names_held(barking, "Bark (botany)", "Bark is the outermost layer of stems and roots of woody plants.")
    dog = abstain.names_held(barking, "Dog", "The dog is a domesticated descendant of wolves.")
    assert "barking" in barking and bark == 0 and dog == 0.5
    assert abstain.names_held(["adopted", "cat"], "Adoption", "Adoption is a process whereby a person assumes "
                              "the parenting of another.") == 0
    assert abstain.names_held(["fishing"], "Fishing", "Fishing is the activity of trying to catch fish.") == 0.5
    # with a vocabulary check, a lowercase word it knows counts only as the title, as an everyday one does
    known = {"tallest", "octopus"}.__contains__
    assert abstain.names_held(["tallest"], "Mount Tai", "The tallest peak is the Jade Emperor Peak.") == 1
    assert abstain.names_held(["tallest"], "Mount Tai", "The tallest peak is the Jade Emperor Peak.", known) == 0
    assert abstain.names_held(["octopus"], "Octopus", "It has eight arms.", known) == 0.5
    assert abstain.names_held(["quindle"], "Sports", "A quindle team has nine players.", known) == 1


def test_a_follow_up_keeps_the_conversations_topic():
    turns = ["Tell me about the Pacific Ocean.", "It is the largest ocean."]
    assert abstain.conversation_names("How deep is it?", turns + ["How deep is it?"]) == \
        ["deep", "Pacific Ocean", "tell"]
    assert abstain.conversation_names("Which continents border it?", turns + ["Which continents border it?"])[:3] == \
        ["continents", "border", "Pacific Ocean"]
    # a message that names its own subject and does not point back keeps to it
    assert abstain.conversation_names("And the Atlantic Ocean?", turns + ["And the Atlantic Ocean?"]) == ["Atlantic Ocean"]
    assert abstain.conversation_names("How deep is it?", ["How deep is it?"]) == ["deep"]  # nothing before
    # follow-up after follow-up: the topic is the turn that set it, not "How tall is it?"
    everest = ["Tell me about Mount Everest.", "It is the highest.", "How tall is it?", "8,848 m.",
               "Who first climbed it?"]
    assert abstain.conversation_names(everest[-1], everest) == ["climbed", "first", "Mount Everest", "tell"]
    # "he" and "there" after a question for a name point to the name the reply answered with
    play = ["Who wrote Romeo and Juliet?", "The Tragedy of Romeo and Juliet is a tragedy written by William "
            "Shakespeare about two young Italians.", "When did he die?"]
    assert abstain.conversation_names(play[-1], play) == ["William Shakespeare"]  # "die" is its verb
    country = ["What's the biggest country?", "Russia: It is the largest country in the world.",
               "How many people live there?"]
    assert "Russia" in abstain.conversation_names(country[-1], country)
    # ... not after a turn that asked for none: "there" is the speaker's own topic
    trip = ["I love Pittsburgh. Have you been?", "Zurich has more people.", "I have not been there since I was 2."]
    assert "Pittsburgh" in abstain.conversation_names(trip[-1], trip)
    assert "Zurich" not in abstain.conversation_names(trip[-1], trip)


def test_a_passage_is_about_what_its_title_and_the_names_share():
    pacific = abstain.conversation_names("How deep is it?", ["Tell me about the Pacific Ocean.", "It is vast.",
                                                            "How deep is it?"])
    assert abstain.is_about(pacific, "Pacific Ocean")
    assert not abstain.is_about(pacific, "Atlantic Ocean") and not abstain.is_about(pacific, "Strait of Magellan")
    assert abstain.is_about(abstain.conversation_names("How tall is Kilimanjaro?", []), "Mount Kilimanjaro")
    elephants = abstain.conversation_names("How many living species of elephant are there?", [])
    assert abstain.is_about(elephants, "Elephant") and not abstain.is_about(elephants, "Primate")
    assert abstain.is_about(abstain.conversation_names("When was the Eiffel Tower built?", []),
                            "Eiffel Tower (Paris)")  # the parenthesis is left out


WWII = [("World War II", "World War II, or the Second World War, was a global conflict between two coalitions."),
        ("World War II", "Millions died as a result of massacres, starvation, disease, and genocides.")]


def test_a_number_asked_for_that_no_passage_states_is_declined():
    assert abstain.unanswered_number("When did World War II end?", WWII) == abstain.decline_reply([])
    assert abstain.unanswered_number("Tell me about World War II.", WWII) is None  # asks for no number
    ended = WWII + [("World War II", "It ended in 1945, with the surrender of Japan.")]
    assert abstain.unanswered_number("When did World War II end?", ended) is None
    # the kind matters: a year is no height; a count may be written in words
    eiffel = [("Eiffel Tower", "Gustave Eiffel's company built the tower from 1887 to 1889.")]
    assert abstain.unanswered_number("How tall is the Eiffel Tower?", eiffel) is not None
    elephants = [("Elephant", "Three living species are currently recognised.")]
    assert abstain.unanswered_number("How many species of elephant are there?", elephants) is None
    # a question about the listener asks for no fact of the passages
    assert abstain.unanswered_number("When was the last time you read a book?", WWII) is None
    # "How long ...?" asks for a length or a time; a time in words past twelve counts
    organist = [("Orsk Tavelin", "He was organist of the cathedral of Ambry for thirty years.")]
    assert abstain.unanswered_number("How long was Orsk Tavelin organist of the cathedral of Ambry?", organist) is None
    aged = [("Pemberline cheese", "The cheese is aged in limestone caves for at least fourteen months.")]
    assert abstain.unanswered_number("How long is Pemberline aged?", aged) is None
    assert abstain.unanswered_number("How tall is Orsk Tavelin?", organist) is not None
    # asked when someone died, a year of another event is not an answer
    bell = [("Alexander Graham Bell", "He also co-founded the American Telephone and Telegraph Company (AT&T) in 1885.")]
    assert abstain.unanswered_number("When did he die?", bell) is not None
    assert abstain.unanswered_number("When did he die?", bell + [("Bell", "Bell died in 1922.")]) is None


def test_a_passage_reply_is_a_fresh_sentence_that_says_what_it_is_about():
    passages = [("Giraffe", "They are the tallest living terrestrial animals. They eat leaves."),
                ("Moose (animal)", "It is the tallest deer.")]
    tallest = "What is the tallest animal?"
    assert abstain.passage_reply(passages, [], tallest) == "Giraffe: They are the tallest living terrestrial animals."
    said = ["Giraffe: They are the tallest living terrestrial animals.", "They eat leaves."]
    assert abstain.passage_reply(passages, said, "Which is the tallest?") == "Moose: It is the tallest deer."
    assert abstain.passage_reply(passages[1:], ["It is the tallest deer."], "Which is the tallest?") is None
    assert abstain.passage_reply(passages, said, tallest) is None  # the tallest deer is not the tallest animal
    assert abstain.passage_reply([("Eiffel Tower", "The Eiffel Tower is in Paris.")], [], "Where is the Eiffel Tower?") == \
        "The Eiffel Tower is in Paris."
    # what a pronunciation left in an article's first sentence is not said
    yoga = [("Yoga", "Yoga (; Sanskrit, योगः Listen) is a group of physical, mental, and spiritual practices.")]
    assert abstain.passage_reply(yoga, [], "What is yoga?") == \
        "Yoga is a group of physical, mental, and spiritual practices."
    # nothing retrieved shares a word with the message or the dialogue: no passage reply
    assert abstain.passage_reply([("0", "0 is a number representing an empty quantity.")],
                                 ["Hi, how are you?"], "Hi, how are you?") is None
    # "c. 2600 BC" ends no sentence: the reply is the whole one, not "It was built c."
    pyramid = [("Great Pyramid of Giza", "It was built c. 2600 BC over a period of about 26 years.")]
    assert abstain.passage_reply(pyramid, [], "When was it built?") == \
        "Great Pyramid of Giza: It was built c. 2600 BC over a period of about 26 years."
    # the sentence that shares most words with the message, the best passage's on a tie
    hamlet = [("Hamlet", "It is Shakespeare's longest play."),
              ("Hamlet", "Set in Denmark, the play depicts Prince Hamlet and his revenge.")]
    assert abstain.passage_reply(hamlet, [], "Where is Hamlet set?") == hamlet[1][1]
    # a message of no words of its own: the dialogue's words decide
    assert abstain.passage_reply(hamlet, ["Tell me about Hamlet.", "Tell me about it."], "Tell me about it.") == \
        "Hamlet: It is Shakespeare's longest play."
    # a follow-up that points back asks about the dialogue's subject: another article's
    # sentence that shares its words does not answer it (as the chat retrieved them)
    eiffel = [("Gustave Eiffel", "Alexandre Gustave Eiffel was a French civil engineer."),
              ("Tower Bridge", "Tower Bridge is a bridge in London, designed by Horace Jones."),
              ("Gustave Eiffel", "His company designed the tower for the 1889 exposition.")]
    said = ["Tell me about the Eiffel Tower.", "It is named after the engineer Gustave Eiffel."]
    assert abstain.passage_reply(eiffel, said, "Who designed it?") == "Gustave Eiffel: " + eiffel[2][1]
    assert abstain.passage_reply(eiffel[:2], said, "Who designed it?") is None  # nothing of the topic says
    assert abstain.passage_reply(eiffel[:2], [], "Who designed it?") == eiffel[1][1]  # no dialogue to keep to
    # a question is answered only by a sentence that holds what it asks: not a building's
    # "tallest in the world" for a mountain (as the chat retrieved them)
    tallest = [("Burj Khalifa", "It has been the tallest building in the world since 2009."),
               ("Mountain", "Mountains are often thought of as higher than 2,000 feet.")]
    assert abstain.passage_reply(tallest, [], "What is the tallest mountain in the world?") is None
    assert abstain.passage_reply(tallest, [], "Tell me about the tallest buildings.") == \
        "Burj Khalifa: " + tallest[0][1]  # not a question: the most words shared decide
    # a question for someone: a sentence that names a person the question does not
    relativity = [("Albert Einstein", "Albert Einstein was a German-born theoretical physicist best known for "
                                      "developing the theory of relativity."),
                  ("Equivalence principle", "This form was a critical input for the development of the "
                                            "theory of general relativity.")]  # as the chat retrieved them
    asked = "Who developed the theory of general relativity?"
    assert abstain.passage_reply(relativity, [], asked) == relativity[0][1]
    assert abstain.passage_reply(relativity, [], "What developed the theory of general relativity?") == \
        "Equivalence principle: This form was a critical input for the development of the theory of general relativity."
    # a word of the same root answers it: "invented" is held by "inventor", not by "organization"
    telephone = [("Telephone", "A telephone, commonly shortened to phone, is a telecommunications device."),
                 ("Alexander Graham Bell", "Alexander Graham Bell was a Scottish-born inventor who is credited "
                                           "with patenting the first practical telephone.")]  # as the chat retrieved them
    assert abstain.passage_reply(telephone, [], "Who invented the telephone?") == telephone[1][1]
    assert abstain.passage_reply([("Telephone", "The organization of telephone networks.")], [],
                                 "Who plays the organ on the telephone?") is None
    # of sentences sharing as many words, the one whose subject is what is asked (as the
    # chat retrieved them: the first passage first)
    colosseum = [("Colosseum", "Further modifications were made during the reign of Domitian."),
                 ("Colosseum", "The Colosseum is an elliptical amphitheatre in the centre of the city of Rome.")]
    assert abstain.passage_reply(colosseum, [], "What is the Colosseum?") == colosseum[1][1]
    assert abstain.passage_reply(colosseum[:1], [], "What is the Colosseum?") == colosseum[0][1]


def test_a_reply_in_other_words_is_judged_by_the_sentence_it_says_again():
    brazil = [("Brazil", "Brazil is a federation composed of 26 states and a Federal District, which hosts the "
                         "capital, Brasilia."),
              ("Brazil", "Brazil is the only Portuguese-speaking country in the Americas, where it is the official "
                         "language.")]
    asked = "What language do they speak in Brazil?"
    assert abstain.misses_the_question("Brazil is a federation of 26 states and a federal district, which is the "
                                       "capital of the country.", asked, brazil)
    assert not abstain.misses_the_question("In Brazil they speak Portuguese, its official language.", asked, brazil)
    assert not abstain.misses_the_question("Portuguese.", asked, brazil)  # too short to say a sentence again
    # a reason need not repeat the words of "Why ...?"
    assert not abstain.misses_the_question("Brazil is a federation of 26 states and a federal district.",
                                           "Why do they speak Portuguese in Brazil?", brazil)


def test_a_reply_that_says_its_sentence_again_without_what_was_asked_misses_the_question():
    beatles = [("Beatles", "The core trio of Lennon, McCartney and Harrison went through a succession of drummers, "
                           "including Pete Best, before asking Starr to join them in 1962."),
               ("The Beatles", "The band comprised John Lennon, Paul McCartney, George Harrison and Ringo Starr.")]
    said = ["Do you like the Beatles?", "They were an English rock band formed in Liverpool in 1960."]
    asked = "Who was their drummer?"  # a chat: the reply kept the sentence's names and left its drummers out
    assert abstain.misses_the_question("The core trio of Lennon, McCartney, and Harrison went on to form The Beatles.",
                                       asked, beatles, said)
    assert not abstain.misses_the_question("The core trio of Lennon, McCartney and Harrison went through several "
                                           "drummers, including Pete Best.", asked, beatles, said)


def test_a_passage_read_out_to_a_question_for_a_superlative_must_say_one():
    presidents = [("United States", "During Barack Obama's campaign for president in 2008, a number of conspiracy "
                                    "theories were circulated."),
                  ("George Washington", "George Washington was the first president of the United States.")]
    asked = "Who was the tallest president of the United States?"  # a chat read out the first
    assert abstain.misses_the_question(presidents[0][1], asked, presidents)
    russia = [("Russia", "It is the largest country in the world.")]
    assert not abstain.misses_the_question("Russia: It is the largest country in the world.",
                                           "What is the biggest country?", russia)  # "largest" for "biggest"
    assert not abstain.misses_the_question("Yes, it is.", "Is it the biggest country?", russia)


def test_a_superlative_read_out_of_a_subject_it_does_not_name_is_led_by_its_title():
    planets = [("Venus", "At the mean surface level, the atmosphere reaches a temperature of 737 K, making it the "
                         "hottest planet in the solar system."),
               ("Mercury", "Mercury is the first planet from the Sun.")]
    asked = ["What is the hottest planet?"]  # a chat read the sentence out without naming Venus
    assert abstain.with_the_one_ranked("I know that's a great question! " + planets[0][1], planets, asked) \
        == "Venus: " + planets[0][1]
    for kept in ("Venus is the hottest planet.", "Mercury is the first planet from the Sun."):
        assert abstain.with_the_one_ranked(kept, planets, asked) == kept
    # a dialogue that names it already, or a question for no superlative, keeps the reply
    assert abstain.with_the_one_ranked(planets[0][1], planets, ["Tell me about Venus.", asked[0]]) == planets[0][1]
    assert abstain.with_the_one_ranked(planets[0][1], planets, ["How hot is it there?"]) == planets[0][1]


def test_a_follow_up_keeps_the_kind_a_question_for_a_superlative_asked_about():
    # "What is the fastest animal?" names no article, but "How fast is it?" after it is about animals
    assert abstain.retrieval_names("What is the largest ocean?") == []
    assert abstain.conversation_names("How deep is it?", ["What is the largest ocean?", "The Pacific Ocean.",
                                                          "How deep is it?"]) == ["deep", "largest", "ocean"]


def test_a_message_refers_back_by_a_pronoun_or_a_thing_no_phrase_completes():
    for back in ("How tall is it?", "What is the capital?", "What is the biggest one?", "How many people live there?"):
        assert abstain.refers_back(back), back
    for alone in ("What is the capital of Japan?", "What's the tallest mountain in the world?", "What do cats eat?",
                  "Who wrote Romeo and Juliet?", "What's the boiling point of water?"):
        assert not abstain.refers_back(alone), alone


def test_a_superlative_of_another_thing_or_place_answers_no_question_for_one():
    asked = "What is the largest planet?"
    triton = "Triton is the largest natural satellite of the planet Neptune."  # a chat read it out
    assert abstain.ranks_another(triton, asked)
    jupiter = "Jupiter is the fifth planet from the Sun, and the largest in the Solar System."
    assert not abstain.ranks_another(jupiter, asked)  # ranks nothing named: left to the other checks
    assert abstain.misses_the_question(triton, asked, [("Triton", triton)])
    rivers = [("Orange River", "It is the longest river in South Africa."),
              ("Nile", "The Nile is the longest river in Africa.")]
    asked = "What's the longest river in Africa?"
    assert abstain.passage_reply(rivers, [asked], asked) == rivers[1][1]
    assert abstain.passage_reply(rivers[:1], [asked], asked) is None
    damascus = [("Damascus", "It is the oldest capital city in the world.")]
    assert abstain.with_the_one_ranked("I know that is the oldest capital city in the world.", damascus,
                                       ["What's the oldest city in the world?"]) == "Damascus: " + damascus[0][1]


def test_the_sentence_that_answers_a_question_says_its_words_again_and_repeats_nothing():
    tower = [("Brannock Tower", "At 64 metres, it is the tallest building in Pellimor."),
             ("Brannock Tower", "Brannock Tower is a stone tower in the city of Pellimor.")]
    asked = "What is the tallest building in Pellimor?"  # the question is among the turns said
    assert abstain.passage_reply(tower, [asked], asked) == "Brannock Tower: " + tower[0][1]
    # a statement said is said, and nothing else answers
    assert abstain.passage_reply(tower, ["It is the tallest building in Pellimor, at 64 metres."], asked) is None


def test_when_is_answered_by_a_sentence_that_names_a_time():
    festival = [("Quenrith Festival", "The festival's largest stage holds 12,000 people."),
                ("Quenrith Festival", "The Quenrith Festival is a music festival held every August in Pellimor."),
                ("Quenrith Festival", "It was founded in 1958 by the violinist Tomas Arlen.")]
    assert abstain.passage_reply(festival, [], "When is the Quenrith Festival held?") == festival[1][1]
    assert abstain.passage_reply(festival, [], "When was the Quenrith Festival founded?") \
        == "Quenrith Festival: " + festival[2][1]


def test_why_is_answered_by_a_sentence_that_gives_a_reason():
    rome = [("Fall of the Western Roman Empire", "The fall of the Western Roman Empire was the loss of central "
                                                 "political control in the Western Roman Empire."),
            ("Fall of the Western Roman Empire", "Increasing pressure from invading peoples outside Roman culture "
                                                 "also contributed greatly to the collapse.")]
    said = ["Tell me about the Roman Empire.", "The Roman Empire was a state that dominated the Mediterranean and "
                                               "much of Europe, Western Asia, and North Africa."]
    assert abstain.passage_reply(rome, said + ["Why did it fall?"], "Why did it fall?") == rome[1][1]
    assert abstain.passage_reply(rome, said + ["What was its fall?"], "What was its fall?") == rome[0][1]


def test_a_reply_to_news_of_oneself_keeps_to_what_was_said():
    from rag_dialogue.agent import _supported_lead

    tired = "I've been feeling really tired lately."
    assert abstain.tells_of_oneself(tired) and abstain.tells_of_oneself("My grandmother just turned 90.")
    assert not abstain.tells_of_oneself("Do I need more sleep?") and not abstain.tells_of_oneself("Cats purr.")
    passages = [("Chickenpox", "The rash and other symptoms, such as fever, tiredness, and headaches, usually last "
                               "five to seven days."),
                ("Rubella", "A fever, sore throat, and fatigue may also occur.")]
    reply = ("I know that can be really frustrating. The rash and other symptoms can be very serious, especially "
             "for people with chickenpox.")
    assert abstain.another_subject(reply, tired, [tired], passages)
    assert not abstain.another_subject("I have three dogs too!", "I have three small dogs!", ["I have three small dogs!"],
                                       [("Dog", "Dogs vary widely in shape, size and colors.")])
    knowledge = "\n".join(f"{title}: {text}" for title, text in passages)
    joins = lambda lead: abstain.another_subject(lead, tired, [tired], passages)  # noqa: E731
    assert _supported_lead(reply, tired, knowledge, [tired], joins) == "I know that can be really frustrating."
    # words about oneself that claim a fact of the world do not lead
    assert _supported_lead("I know that sleep apnea causes it. The rash can be serious for people with chickenpox.",
                           tired, knowledge, [tired], joins) is None


def test_a_read_out_that_holds_only_the_subject_misses_what_is_asked_of_it():
    romans = [("Roman mythology", "Roman mythology is the body of myths of ancient Rome as represented in the "
                                  "literature and visual arts of the Romans.")]
    assert abstain.misses_the_question(romans[0][1], "What did the Romans eat?", romans)
    assert abstain.misses_the_question(romans[0][1], "Did the Romans eat bread?", romans)
    # a question that only names its subject asks nothing more of it
    assert not abstain.misses_the_question(romans[0][1], "Have you heard of Roman mythology?", romans)
    # "Who ...?" and "Where ...?" are answered in other words ("established" for "founded")
    napoleon = [("Napoleon", "He rose to prominence as a general during the French Revolution.")]
    assert abstain.misses_the_question(napoleon[0][1], "Where did Napoleon die?", napoleon)
    coors = [("Coors", "In 1873, Adolph Coors established a brewery in Golden, Colorado.")]
    assert not abstain.misses_the_question(coors[0][1], "Who founded Coors?", coors)


def test_a_sentence_whose_main_clause_opens_with_a_pronoun_is_led_by_its_title():
    nile = [("Nile", "At 7,088 kilometers (4,404 mi) long, it is the longest river in the world.")]
    asked = "What is the longest river in the world?"
    assert abstain.passage_reply(nile, [], asked) == "Nile: " + nile[0][1]
    assert abstain.with_its_subject(nile[0][1], nile, [asked]) == "Nile: " + nile[0][1]
    assert abstain.with_its_subject(nile[0][1], nile, ["Tell me about the Nile."]) == nile[0][1]  # named already
    paris = [("Paris", "In Paris, it rained for a week.")]
    assert abstain.with_its_subject(paris[0][1], paris, ["hi"]) == paris[0][1]  # the fronted phrase names it


def test_a_superlative_of_another_place_misses_the_one_asked():
    seychelles = [("Seychelles", "Seychelles is the smallest country in Africa.")]
    asked = "What is the smallest country in the world?"
    assert abstain.misses_the_question(seychelles[0][1], asked, seychelles)
    assert abstain.passage_reply(seychelles, [], asked) is None
    assert not abstain.misses_the_question(seychelles[0][1], "What is the smallest country in Africa?", seychelles)
    assert not abstain.misses_the_question("Vatican City is the smallest country in the world.", asked, [])
    assert not abstain.misses_the_question("The Pacific Ocean is the largest and deepest of Earth's five oceanic "
                                           "divisions.", "What is the biggest ocean?", [])
    # a yes-no question may be answered so
    assert not abstain.misses_the_question(seychelles[0][1], "Is it the smallest country in the world?", seychelles)
    # a superlative said in another word: "nearest" for "closest"
    sun = [("Star", "The nearest star to Earth is the Sun.")]
    assert not abstain.misses_the_question(sun[0][1], "What is the closest star to Earth?", sun)


def test_a_superlative_asked_of_there_is_of_the_place_the_dialogue_named():
    """"What is the tallest mountain there?" after Japan asks for Japan's: Mount Fuji's
    "the highest mountain in Japan" answers it (its passage is about something there), and
    Everest's, of no place the dialogue named, does not."""
    fuji = ("Mount Fuji", "Mount Fuji is an active stratovolcano on the island of Honshu. "
                          "It is the highest mountain in Japan.")
    everest = ("Mount Everest", "Mount Everest is the highest mountain on Earth above sea level.")
    said = ["I want to visit Japan next year.", "Japan is an island country in East Asia."]
    asked = "What is the tallest mountain there?"
    assert abstain.on_topic([everest, fuji], asked, said) == [fuji]
    assert abstain.passage_reply([everest, fuji], said, asked) == "Mount Fuji: It is the highest mountain in Japan."
    assert not abstain.misses_the_question("It is the highest mountain in Japan.", asked, [fuji], said)
    # with no place before it, "there" is the speaker's own: the scope is another place
    assert abstain.misses_the_question("It is the highest mountain in Japan.", asked, [fuji], ["I like hiking."])
    assert abstain.on_topic([everest, fuji], "What is the tallest mountain there?", ["I like hiking."]) == []


def test_asked_how_someone_died_a_sentence_of_another_event_misses_it():
    cleopatra = [("Cleopatra", "A member of the Ptolemaic dynasty, she was a descendant of its founder Ptolemy I."),
                 ("Cleopatra", "She died by suicide in 30 BC, after the defeat of Mark Antony.")]
    assert abstain.misses_the_question(cleopatra[0][1], "How did she die?", cleopatra)
    assert not abstain.misses_the_question(cleopatra[1][1], "How did she die?", cleopatra)
    after = "After her death, Egypt became a province of the Roman Empire."
    assert abstain.misses_the_question(after, "How did she die?", cleopatra + [("Cleopatra", after)])
    assert not abstain.misses_the_question("I'm sorry, I don't know that.", "How did she die?", cleopatra)


def test_a_bare_when_or_why_asks_of_the_deed_asked_before():
    """"When?" after "Who discovered penicillin?" asks when penicillin was discovered: the
    checks read it so, and a sentence with no time, or the time of another deed, does not
    answer it."""
    turns = ["Who discovered penicillin?", "Alexander Fleming discovered it.", "When?"]
    asked = abstain.completed_question(turns)
    assert asked == "When was penicillin discovered?"
    assert abstain.tells_another_deed("The first penicillin factory was built in 1942.", asked)
    assert not abstain.tells_another_deed("His discovery in 1928 changed medicine.", asked)
    # ... and after where, how or why something was done, when it was: as the chat was asked of ballet
    assert abstain.completed_question(["Where did it start?", "In Italy.", "When?"]) == "When did it start?"
    assert abstain.completed_question(["How did she die?", "Of an illness.", "When?"]) == "When did she die?"
    assert abstain.completed_question(["Where is it?", "In Paris.", "When?"]) is None
    assert abstain.completed_question(["Who gave it?", "The people of France.", "When?"]) == "When was it given?"
    # "Why?" likewise: after "Who built it?" the chat gave Rome's "... due to its geography" of the Colosseum
    assert abstain.completed_question(["Who built it?", "Vespasian began it.", "Why?"]) == "Why was it built?"
    rome = [("Rome", 'Rome is often referred to as the "City of Seven Hills" due to its geography.')]
    assert abstain.misses_the_question(rome[0][1], "Why was it built?", rome, ["We visited the Colosseum in Rome."])
    for other in (["When?"], ["I like penicillin.", "So do I.", "When?"], ["Who discovered penicillin?", "Fleming.",
                                                                         "Where?"],
                  ["Who was Marie Curie?", "A physicist and chemist.", "When?"]):  # "When was Marie Curie was?"
        assert abstain.completed_question(other) is None, other


def test_asked_how_someone_died_a_reply_must_tell_how():
    """"How did she die?" of Cleopatra got "... ruled by the Ptolemaic dynasty until the
    death of Cleopatra in 30 BC.": of her death, but when, not how."""
    asked = "How did she die?"
    when = "The Ptolemaic Kingdom was ruled by the Ptolemaic dynasty until the death of Cleopatra in 30 BC."
    assert abstain.tells_not_how_died(when, asked)
    assert abstain.tells_not_how_died("He died in 1616.", "How did William Shakespeare die?")
    for how in ("She died by suicide in 30 BC.", "She was bitten by an asp.", "He died of a fever in 1616.",
                "He was assassinated by John Wilkes Booth.", "I'm sorry, I don't know that."):
        assert not abstain.tells_not_how_died(how, asked), how
    for other in ("When did she die?", "Why did he die?", "How did she become queen?"):
        assert not abstain.tells_not_how_died(when, other), other


def test_a_question_for_a_name_is_missed_by_a_reply_that_names_nothing():
    tortoise = [("Mossback tortoise", "Individuals can live for more than 120 years."),
                ("Mossback tortoise", "The mossback tortoise is a land tortoise native to the Ferrow Islands.")]
    where = "Where does the mossback tortoise live?"
    assert abstain.misses_the_question(tortoise[0][1], where, tortoise)
    assert not abstain.misses_the_question(tortoise[1][1], where, tortoise)
    falls = [("Kessrin Falls", "A footbridge built in 1910 crosses the river below the falls."),
             ("Kessrin Falls", "Kessrin Falls is a waterfall on the Ulva River in the Dremmen Highlands.")]
    which = "Which river are Kessrin Falls on?"
    assert abstain.misses_the_question("A footbridge crossing the river below the falls was built in 1910.", which, falls)
    assert not abstain.misses_the_question("They are on the ulva river, in the highlands.", which, falls)  # lowercase
    # "Which river ...?" is answered by a river named so, not by any name ("the Middle Ages")
    bridge = [("Harlan Ferry Bridge", "It replaced a rope ferry that had crossed the river since the Middle Ages."),
              ("Harlan Ferry Bridge", "The Harlan Ferry Bridge is a suspension bridge over the River Teme.")]
    crossed = "Which river does the Harlan Ferry Bridge cross?"
    assert abstain.passage_reply(bridge, [], crossed) == bridge[1][1]
    assert abstain.misses_the_question(bridge[0][1], crossed, bridge)
    observatory = [("Quillon Observatory", "Its main telescope has a mirror 3.2 metres across."),
                   ("Quillon Observatory", "It is an astronomical observatory on Mount Sarrow.")]
    assert abstain.misses_the_question(observatory[0][1], "Which mountain is the Quillon Observatory on?", observatory)
    # the title of the sentence that would answer counts for it, as the reply's does for the reply
    institute = [("Serrano Institute", "It was founded in 1957 by the engineer Luis Serrano."),
                 ("Serrano Institute", "The institute is best known for its anechoic chamber.")]
    assert abstain.misses_the_question(institute[0][1], "What is the Serrano Institute best known for?", institute)


def test_a_statement_that_opens_with_a_clause_asks_nothing():
    assert not abstain.asks_for_fact("When I was a child my parents separated.")
    assert not abstain.asks_for_fact("Where we live it snows all winter.")
    assert abstain.asks_for_fact("When was the Eiffel Tower built")
    assert abstain.asks_for_fact("When I was young, did you have a dog?")


def test_a_read_out_that_holds_no_word_of_the_question_misses_it():
    read_out = ("They became the dominant terrestrial vertebrates after the Triassic-Jurassic extinction event "
                "and their dominance continued throughout the Jurassic and Cretaceous periods.")
    dinosaur = [("Dinosaur", read_out)]
    assert abstain.misses_the_question(read_out, "What was the biggest one?", dinosaur)
    assert abstain.misses_the_question(read_out, "Is it hard to find their fossils?", dinosaur)
    # an answer word answers a yes-no question
    assert not abstain.misses_the_question("Yes, " + read_out, "Is it hard to find their fossils?", dinosaur)
    # it holds a word asked: an answer, if a poor one
    assert not abstain.misses_the_question(read_out, "Which periods did they dominate?", dinosaur)
    # its passage's title speaks through its pronoun: "It" is the glassfin eel
    eel = [("Glassfin eel", "It feeds mainly on snails and insect larvae.")]
    assert not abstain.misses_the_question(eel[0][1], "What does the glassfin eel eat?", eel)
    # the sentence the chat would answer with instead holds more of what is asked
    town = [("Tarnwick", "Tarnwick is a market town in the province of Oldmere."),
            ("Tarnwick", "Tarnwick is known for its weekly cheese market.")]
    assert abstain.misses_the_question(town[0][1], "What is Tarnwick known for?", town)
    assert not abstain.misses_the_question(town[0][1], "What is Tarnwick known for?", town, said=[town[1][1]])
    # ... but not a sentence that names no one, to "Who ...?" (as the chat retrieved them)
    novel = [("Pride and Prejudice", "Pride and Prejudice is a novel by English author Jane Austen."),
             ("Pride and Prejudice", "Written when she was aged 20–21, it was her third novel.")]
    assert not abstain.misses_the_question(novel[0][1], "Who wrote Pride and Prejudice?", novel)
    # not a read-out, not a question, about the listener, or for a number (held to the number)
    assert not abstain.misses_the_question("I think they were huge.", "What was the biggest one?", dinosaur)
    assert not abstain.misses_the_question(read_out, "Tell me more.", dinosaur)
    assert not abstain.misses_the_question(read_out, "Do you like them?", dinosaur)
    assert not abstain.misses_the_question(read_out, "When did they die out?", dinosaur)
    # nor one that asks for anything more, or about a subject
    assert not abstain.misses_the_question(read_out, "What else should I know?", dinosaur)
    assert not abstain.misses_the_question(read_out, "Can we talk about fossils?", dinosaur)


def test_a_question_for_the_a_of_b_is_answered_only_by_a_sentence_that_relates_them():
    # as the chat retrieved them: no passage says what Australia's capital is
    cities = [("Melbourne", "Melbourne is the capital and most populous city of the Australian state of "
                            "Victoria and the second-most populous city in Australia."),
              ("Perth", "Perth is the capital and largest city of the Australian state of Western Australia.")]
    asked = "What is the capital of Australia?"
    assert abstain.misses_the_question(cities[0][1], asked, cities)
    assert abstain.passage_reply(cities, [], asked) is None
    canberra = ("Canberra", "Canberra is the capital city of Australia.")
    assert abstain.passage_reply(cities + [canberra], [], asked) == canberra[1]
    assert not abstain.misses_the_question("Australia's capital is Canberra.", asked, [canberra])
    assert not abstain.misses_the_question("It is Canberra, the capital of Australia.", "whats the capital of Australia?", [])
    assert metrics.asked_relation("What is the tallest mountain in the world?") is None
    # the title's subject, spoken of by a possessive: "Its current grand master is ..."
    order = [("Order of the Pale Lantern", "Its current grand master is Edmund Straive.")]
    master = "Who is the grand master of the Order of the Pale Lantern?"
    assert not abstain.misses_the_question(order[0][1], master, order)
    assert not abstain.misses_the_question(f"Order of the Pale Lantern: {order[0][1]}", master, [])
    assert abstain.passage_reply(order, [], master) == "Order of the Pale Lantern: " + order[0][1]
    assert abstain.misses_the_question(order[0][1], "Who is the grand master of the Order of Corvell?", order)
    # "The first winner was ..." speaks of its passage's title; "The capital of Victoria" does not
    prize = [("Marell Prize", "The first winner was the poet Tomas Brenn."),
             ("Marell Prize", "It was founded in 1959 by the publisher Ida Marell.")]
    first = "Who was the first winner of the Marell Prize?"
    assert abstain.passage_reply(prize, [], first) == prize[0][1]
    assert metrics.unheld_relation("The first winner of the Marell Prize was the poet Tomas Brenn.", prize, [first]) is None
    assert not metrics.relates([("Kelvor", "The capital of Ostrelia is Varn.")], *metrics.asked_relation(
        "What is the capital of Kelvor?"))
    assert metrics.relates([("Brellish", "The aim of the game is to collect sets of three cards.")],
                           *metrics.asked_relation("What is the aim of Brellish?"))  # "the game" is the title's
    # asked who is, not who was: a past holder answers another question
    france = [("François Mitterrand", "François Maurice Adrien Marie Mitterrand was President of France "
                                      "from 1981 to 1995.")]
    assert abstain.misses_the_question(france[0][1], "Who is the president of France?", france)
    assert abstain.passage_reply(france, [], "Who is the president of France?") is None
    assert not abstain.misses_the_question(france[0][1], "Who was the president of France in 1990?", france)
    assert not metrics.relation_in_past("Emmanuel Macron is the President of France.", "Who is the president of France?")


def test_a_chat_reply_keeps_the_lead_sentences_that_hold():
    from rag_dialogue.agent import _supported_lead

    knowledge = "Greeting: Greetings exist in all known human cultures."
    joins_nothing = lambda reply: False  # noqa: E731
    cut = ("I'm fine, I think. Greeting is an act of communication in which human beings intentionally "
           "make their presence known to")  # a chat reply cut at its length
    hello = "Hi! How are you today?"
    assert _supported_lead(cut, hello, knowledge, [hello], joins_nothing) == "I'm fine, I think."
    # words about itself answer only a message that asks the listener
    asked = "What is a greeting?"
    assert _supported_lead(cut, asked, knowledge, [asked], joins_nothing) is None
    # a claim the passages hold leads; what follows it is dropped
    made_up = "Greetings exist in all known human cultures. They were invented in 1850 in Paris."
    assert _supported_lead(made_up, asked, knowledge, [asked], joins_nothing) == \
        "Greetings exist in all known human cultures."
    assert _supported_lead(made_up, asked, knowledge, [asked], lambda reply: True) is None  # a lead that joins
    assert _supported_lead("I'm fine, thanks. I was born in Paris in 1850.", hello, knowledge, [hello],
                           joins_nothing) == "I'm fine, thanks."
    assert _supported_lead("I'm fine. I live in Paris.", hello, knowledge, [hello], joins_nothing) == "I'm fine."
    assert _supported_lead("Paris. I live in Paris.", hello, knowledge, [hello], joins_nothing) is None  # babble
    # a lead does not end inside a name the generator broke with a full stop
    tallest = "What's the tallest mountain in the world?"
    peak = "Mount Tai: The tallest peak in the world is the Jade Emperor Peak."
    broken = "The tallest mountain in the world is Mount. Everest, which is the highest mountain in all of"
    assert _supported_lead(broken, tallest, peak, [tallest], joins_nothing) is None
    assert _supported_lead("The tallest peak in the world is the Jade Emperor Peak. He climbed it in 1950.",
                           tallest, peak, [tallest], joins_nothing) == "The tallest peak in the world is the Jade Emperor Peak."


def test_a_question_put_politely_asks_about_its_subject_not_the_listener():
    coffee = [("Coffee", "Coffee is a brewed drink prepared from roasted coffee beans."),
              ("Coffee", "Coffee plants are now cultivated in over 70 countries.")]
    asked = "Do you know anything about coffee?"
    assert not abstain.asks_the_listener(asked)
    assert abstain.without_polite_frame(asked).split() == ["coffee?"]
    assert abstain.passage_reply(coffee, [asked], asked) == coffee[0][1]
    assert not abstain.asks_the_listener("Can you tell me who painted the Mona Lisa?")
    for to_the_listener in ("Do you like coffee?", "What do you know about yourself?", "Can you tell me your name?"):
        assert abstain.asks_the_listener(to_the_listener)


def test_what_an_animal_eats_is_answered_by_its_diet():
    panda = [("Giant panda", "A thumb is visible on its forepaw, which helps in holding bamboo in place for feeding."),
             ("Giant panda", "It is mostly herbivorous with a diet consisting almost entirely of bamboo."),
             ("Giant panda", "It has large molar teeth and expanded temporal fossae.")]
    assert abstain.passage_reply(panda, [], "What do pandas eat?") == "Giant panda: " + panda[1][1]
    assert abstain.passage_reply(panda[:1], [], "What do pandas eat?") == panda[0][1]  # feeding is eating too
    assert abstain.passage_reply(panda[2:], [], "What do pandas eat?") is None
    oceans = [("Atlantic Ocean", "The Atlantic Ocean is the second largest of the world's five oceans."),
              ("Pacific Ocean", "The Pacific Ocean is the largest and deepest of Earth's five oceanic divisions.")]
    assert abstain.passage_reply(oceans, [], "What is the biggest ocean?") == oceans[1][1]


def test_a_follow_up_answered_about_another_passages_subject_is_another_subject():
    # as the chat retrieved them, asked after Tamu Massif "When did it last erupt?"
    volcanoes = [("Volcano", "Volcanoes resulting from divergent tectonic activity are usually non-explosive."),
                 ("Mount Pelée", "Its most recent eruption was in 1932."),
                 ("Mount Fuji", "Mount Fuji last erupted from 1707 to 1708.")]
    said = ["Hey there! Do you know anything about volcanoes?", "A volcano is a vent in the crust.",
            "Which one is the biggest?", "It is the submarine volcano Tamu Massif.", "When did it last erupt?"]
    assert abstain.another_subject("Mount Fuji last erupted from 1707 to 1708.", said[-1], said, volcanoes)
    assert abstain.of_the_subject(volcanoes, said[-1], said) == volcanoes[:1]
    assert not abstain.another_subject("It last erupted long ago.", said[-1], said, volcanoes)
    assert not abstain.another_subject("Volcanoes like Mount Fuji erupt.", said[-1], said, volcanoes)  # speaks of both
    # a message that names what it asks about is not a follow-up
    assert not abstain.another_subject("Mount Fuji last erupted from 1707 to 1708.", "When did Mount Fuji last erupt?",
                                       said[:-1] + ["When did Mount Fuji last erupt?"], volcanoes)
    assert abstain.of_the_subject(volcanoes, "When did Mount Fuji last erupt?", said) == volcanoes
    moon = [("Moon landing", "The first crewed mission to land on the Moon was Apollo 11 in 1969."),
            ("Apollo 11", "Apollo 11 was the spaceflight that first landed humans on the Moon.")]
    said = ["Tell me about the Moon landing.", "A Moon landing is the arrival of a spacecraft on the Moon.",
            "When did that happen?"]
    assert not abstain.another_subject("Apollo 11 landed on the Moon in 1969.", said[-1], said, moon)
    spaceflight = [("History of spaceflight", "The United States landed the first men on the Moon in 1969.")]
    assert not abstain.another_subject(spaceflight[0][1], said[-1], said, moon + spaceflight)
    assert abstain.of_the_subject(moon + spaceflight, said[-1], said) == moon[:1]  # titled by the dialogue's words
    # as the chat retrieved them, asked "how tall is it" of the tallest building
    tall = [("Mount Tai", "The tallest peak is the Jade Emperor Peak, which is 1,545 meters (5,069 ft) tall."),
            ("Burj Khalifa", "It has a total height of 829.8 m.")]
    said = ["what is the tallest building in the world", "Burj Khalifa: It has been the tallest building in the world "
            "since 2009.", "how tall is it"]
    assert abstain.of_the_subject(tall, said[-1], said) == tall[1:]


def test_a_question_that_names_nothing_asks_of_the_topic_a_passage_of_it_answers():
    """"How many people died?" after the Titanic was answered by the Rwandan genocide's
    "... over 1 million people were killed ..."; the sinking's passage holds what it asks."""
    titanic = [("Sinking of the Titanic", "She sank on 15 April, resulting in the deaths of up to 1,635 people."),
               ("Rwandan genocide", "While the Rwandan Constitution states that over 1 million people were killed, "
                                    "most scholarly estimates suggest that 500,000 Tutsi died.")]
    said = ["When did the Titanic sink?", "The Titanic sank on 15 April 1912.", "How many people died?"]
    assert abstain.another_subject(titanic[1][1], said[-1], said, titanic)
    assert not abstain.another_subject(titanic[0][1], said[-1], said, titanic)
    assert abstain.of_the_subject(titanic, said[-1], said) == titanic[:1]
    assert "Titanic" in abstain.with_topic_names(["people", "died"], said[-1], said)
    assert not abstain.another_subject(titanic[1][1], said[-1], said, [("", text) for _, text in titanic])  # untitled
    # a question on a new subject, which no passage of the topic answers, is asked of that
    animals = titanic[:1] + [("Cheetah", "The cheetah is the fastest land animal.")]
    asked = said[:-1] + ["What is the fastest animal?"]
    assert not abstain.another_subject(animals[1][1], asked[-1], asked, animals)
    assert abstain.of_the_subject(animals, asked[-1], asked) == animals
    # a reply drawn from a passage of the topic speaks of it, whatever other title it names
    japan = [("Japan", "Tokyo is the country's capital and largest city."),
             ("Tokyo", "Tokyo, officially the Tokyo Metropolis, is the capital and most populous city of Japan.")]
    said = ["I'm going to Japan next month!", "Japan is an island country.", "What is the capital?"]
    assert not abstain.another_subject(japan[0][1], said[-1], said, japan)
    # the message's own words are no topic: "river" of "the longest river" names no river of the dialogue
    rivers = [("Nile", "At 7,088 kilometers long, it is the longest river in the world."),
              ("Lena River", "The Lena is the eleventh-longest river in the world and the longest within Russia.")]
    said = ["Hey there", "Hi! What would you like to talk about?", "What's the longest river in the world?"]
    assert not abstain.another_subject(rivers[0][1], said[-1], said, rivers)


def test_a_work_by_someone_answers_who_made_it():
    novel = [("Pride and Prejudice", "Pride and Prejudice is a novel by English author Jane Austen.")]
    assert abstain.passage_reply(novel, [], "Who wrote Pride and Prejudice?") == novel[0][1]
    assert abstain.passage_reply(novel, [], "Who illustrated Pride and Prejudice?") is None  # another may have
    series = [("Harry Potter", "Harry Potter is a series of novels written by British author J. K. Rowling.")]
    assert abstain.passage_reply(series, [], "Who is the author of Harry Potter?") == series[0][1]
    assert abstain.passage_reply(series, [], "Who is the publisher of Harry Potter?") is None


def test_who_won_is_answered_by_the_victory():
    war = [("World War II", "World War II, or the Second World War, was a global conflict between two coalitions: "
                            "the Allies and the Axis powers."),
           ("World War II", "After the Allied victory, Germany, Austria, Japan, and Korea were occupied.")]
    said = ["Tell me about World War II.", war[0][1]]
    # "won" is a stopword as the first half of "won't", but asked it is the question's word
    assert abstain.passage_reply(war, said, "Who won?") == war[1][1]
    assert abstain.misses_the_question(war[0][1], "Who won?", war, said[:1])
    assert "won" not in abstain._stems("I won't go.")


def test_what_a_message_tells_before_its_question_is_not_asked():
    tea = [("Tea", "Tea originated in Southwest China, where it was used as a medicinal drink.")]
    assert abstain.passage_reply(tea, [], "I like tea. Where was it first grown?") == tea[0][1]


def test_where_something_comes_from_is_where_it_is_native():
    coffee = [("Coffee", "Coffee plants are now cultivated in over 70 countries, primarily in the equatorial "
                         "regions of the Americas, Southeast Asia, India, and Africa."),
              ("Coffee", 'The genus "Coffea" is native to tropical Africa (specifically having its origin in '
                         "Ethiopia and Sudan).")]
    assert abstain.passage_reply(coffee, [], "Where does coffee come from?") == coffee[1][1]


def test_who_built_or_gave_it_is_answered_by_the_construction_or_gift_and_known_for_by_what_it_is_considered():
    statue = [("Statue of Liberty", "The statue was dedicated on October 28, 1886."),
              ("Statue of Liberty", "The copper-clad statue, a gift to the United States from the people of France, "
                                    "was designed by French sculptor Frederic Auguste Bartholdi.")]
    said = ["I'm reading about the Statue of Liberty.", "It is a colossal sculpture on Liberty Island."]
    assert abstain.passage_reply(statue, said, "Who gave it?") == statue[1][1]
    colosseum = [("Colosseum", "Further modifications were made during the reign of Domitian."),
                 ("Colosseum", "Construction began under the Emperor Vespasian in 72 and was completed in AD 80 "
                               "under his successor and heir, Titus.")]
    said = ["We visited the Colosseum in Rome.", "The Colosseum is an elliptical amphitheatre in Rome."]
    assert abstain.passage_reply(colosseum, said, "Who built it?") == colosseum[1][1]
    ada = [("Ada Lovelace", "Lovelace is often considered the first computer programmer.")]
    said = ["Do you know who Ada Lovelace was?", "Lovelace was an English mathematician and writer."]
    assert not abstain.misses_the_question(ada[0][1], "What is she known for?", ada, said)
    assert abstain.misses_the_question(ada[0][1], "What did she eat?", ada, said)


def test_a_message_whose_first_name_no_passage_holds_is_declined_by_that_name():
    oslo = [("Oslo", "Oslo is the capital and most populous city of Norway.")]
    asked = "Tell me about the Glimmerfen Bridge in Oslo."  # no such bridge
    # though Oslo is held, what it asks about is the bridge: declined before generating (a
    # reply about Norway passed the checks: "Tell me about the Snarlwick Festival in Norway.")
    assert abstain.unsupported_question(asked, oslo) == "I'm sorry, I don't know anything about the Glimmerfen Bridge."
    assert abstain.unsupported_question("Have you heard of the Glimmerfen Bridge in Oslo?", oslo) is not None
    assert abstain.unsupported_question("Is the Glimmerfen Bridge in Oslo?", oslo) is None  # not asked about first
    assert abstain.unsupported_question("Tell me about Oslo and its bridges.", oslo) is None
    assert abstain.unheld_subject(asked, oslo) == "I'm sorry, I don't know anything about the Glimmerfen Bridge."
    assert abstain.unheld_subject("Tell me about Oslo's bridges.", oslo) is None
    assert abstain.unheld_subject("I went to Stavanger. Tell me about Oslo.", oslo) is None  # said, not asked
    assert abstain.unheld_subject("What is a fjord?", oslo) is None  # names nothing


def test_a_death_is_the_subject_s_not_another_s():
    from rag_dialogue.grounded_numbers import answering_sentences, holds_the_event

    nobel = "The prizes were first awarded in 1901, marking the fifth anniversary of Alfred Nobel's death."
    assert not holds_the_event(nobel, "When did she die?")
    assert holds_the_event(nobel, "When did Alfred Nobel die?")
    assert holds_the_event("Marie Curie's death in 1934 was caused by radiation.", "When did she die?",
                           ["Who was Marie Curie?"])
    assert not holds_the_event("After the death of her husband in 1906, she took his post.", "When did she die?")
    assert holds_the_event("Her death in 1934 was caused by radiation.", "When did she die?")
    said = ["Who was Marie Curie?", "She was a Polish and naturalised-French physicist and chemist."]
    passages = [("Nobel Prize", nobel)]
    assert answering_sentences("When did she die?", ["Marie Curie"], passages) == []
    assert abstain.unanswered_number("When did she die?", passages) == "I'm sorry, I don't know that."
    assert abstain.misses_the_question(nobel, "How did she die?", passages, said)


def test_where_is_answered_only_by_a_sentence_that_names_a_place():
    reef = [("Great Barrier Reef", "The Great Barrier Reef can be seen from outer space and is the world's biggest "
                                   "single structure made by living organisms."),
            ("Great Barrier Reef", "It is located in the Coral Sea, off the coast of Queensland, Australia.")]
    said = ["What is the Great Barrier Reef?", "It is the world's largest coral reef system."]
    assert abstain.passage_reply(reef, said, "Where is it?") == "Great Barrier Reef: " + reef[1][1]
    assert abstain.passage_reply(reef[:1], said, "Where is it?") is None  # names no place
    # "Where ...?" may leave one word of it out, its verb often: "native to" for "live"
    tortoise = [("Mossback tortoise", "Individuals can live for more than 120 years."),
                ("Mossback tortoise", "The mossback tortoise is a land tortoise native to the Ferrow Islands.")]
    assert abstain.passage_reply(tortoise, [], "Where does the mossback tortoise live?") == tortoise[1][1]
    # ... and of those, one that says where, not one that names who: "between the kingdoms
    # of Astren and Morv" holds every word asked, "on the banks of the river Caddon" all but one
    battle = [("Battle of Hollow Ford", "The Battle of Hollow Ford was fought in 1412 between the kingdoms of "
                                        "Astren and Morv."),
              ("Battle of Hollow Ford", "The battle ended in a victory for Morv."),
              ("Battle of Hollow Ford", "It took place on the banks of the river Caddon.")]
    assert abstain.passage_reply(battle, [], "Where was the Battle of Hollow Ford fought?") == \
        "Battle of Hollow Ford: " + battle[2][1]
    assert abstain.passage_reply(battle[:2], [], "Where was the Battle of Hollow Ford fought?") == battle[0][1]


def test_a_follow_up_is_declined_when_no_passage_holds_what_the_conversation_asked_about():
    empires = [("Theodosius I", "Theodosius was the last emperor to rule the entire Roman Empire."),
               ("Nerva–Antonine dynasty", 'The first five of these are popularly known as the "Five Good Emperors".')]
    said = ["Tell me about the Zarnovian Empire.", "I'm sorry, I don't know anything about the Zarnovian Empire."]
    asked = "Who was its first emperor?"  # as the chat retrieved them
    assert abstain.unsupported_question(asked, empires) is None  # names nothing of its own
    assert abstain.unsupported_question(asked, empires, said=said) == \
        "I'm sorry, I don't know anything about the Zarnovian Empire."
    rome = [("Roman Empire", "Augustus was the first Roman emperor.")]
    assert abstain.unsupported_question(asked, rome, said=["Tell me about the Roman Empire.", "It was vast."]) is None
    assert abstain.unsupported_question("Who was the first emperor?", empires, said=said) is None  # points back to nothing
    said = ["Tell me about the Zarnovian Empire.", "It was a great empire."]
    assert abstain.unsupported_question(asked, empires, said=said) is None  # a reply it stands by, answered
    # a question in between that names nothing sets the topic too (as the chat retrieved them)
    pyramid = [("Great Pyramid of Giza", "It was built c. 2600 BC over a period of about 26 years.")]
    said = ["I've been reading about ancient Egypt.", "Ancient Egypt was a cradle of civilization.",
            "Who built the pyramids?", "I'm sorry, I don't know that."]
    assert abstain.unsupported_question("How old are they?", pyramid, said=said) is None
    # a subject the chat spoke of is no unknown: declined as a question, not "anything about Abraham Lincoln"
    booth = [("John Wilkes Booth", "John Wilkes Booth was an American stage actor.")]
    said = ["I'm reading a book about Abraham Lincoln.", "He led the United States through the Civil War.",
            "How did he die?", "I'm sorry, I don't know that."]
    assert abstain.unsupported_question("Who killed him?", booth, said=said) == "I'm sorry, I don't know that."
    # "Let's" names nothing: "Are they endangered?" after "Let's talk about tigers." is answered
    tigers = [("Tiger", "The tiger is a large cat native to Asia.")]
    said = ["Let's talk about tigers.", tigers[0][1], "What do they eat?", "I'm sorry, I don't know that."]
    assert abstain.named_terms(said[0]) == []
    assert abstain.unsupported_question("Are they endangered?", tigers, said=said) is None


def test_the_listener_is_asked_about_in_chat_spelling_too():
    assert abstain.asks_the_listener("whats ur favorite movie")
    assert abstain.asks_the_listener("do u like jazz?")
    assert not abstain.asks_the_listener("What was Ur?")  # a city: "ur" for "your" is lowercase
    # a read-out to a question about the listener that holds no word of it misses it
    city = [("Ur", "Ur was a major Sumerian city-state in ancient Mesopotamia.")]
    assert abstain.misses_the_question(city[0][1], "whats ur favorite movie", city)
    assert abstain.passage_reply(city, ["whats ur favorite movie"], "whats ur favorite movie") is None
    # ... but a question for a fact put to the listener is a question for the fact
    pizza = [("Pizza", "Pizza was invented in Naples.")]
    assert not abstain.misses_the_question(pizza[0][1], "Do you know where it originated from?", pizza)


def test_who_is_answered_by_a_reply_that_names_someone():
    asked = "Who invented the light bulb?"
    assert abstain.names_no_one("A bulb socket provides mechanical support and electrical connections.", asked)
    assert not abstain.names_no_one("Edison invented it.", asked)
    assert not abstain.names_no_one("Thomas Edison is known for his work on the light bulb.", asked)
    assert not abstain.names_no_one("They were an English rock band.", "Who were the Beatles?")  # asks what
    assert abstain.names_no_one("Written when she was aged 20–21, it was her third novel.",
                                "Who wrote Pride and Prejudice?")
    assert not abstain.names_no_one("Jane Austen wrote it.", "Who wrote Pride and Prejudice?")
    assert not abstain.names_no_one("A bulb socket holds it.", "What holds a light bulb?")
    assert not abstain.names_no_one("The lady who is in every episode.", "Who is your favorite character?")
    assert not abstain.names_no_one("That's true.", "Who knows, maybe we can benefit from that research.")
    assert abstain.names_no_one("A number of natural penicillins have been discovered, but only two are in "
                                "clinical use: penicillin G and penicillin V.", "Who discovered penicillin?")
    assert not abstain.names_no_one("Alexander Fleming discovered it in 1928.", "Who discovered penicillin?")


def test_a_sentence_opening_word_names_someone_only_where_no_text_writes_it_in_lowercase():
    asked = "Who invented the telephone?"
    reply = ("Long-distance technologies invented during the 19th, 20th and 21st centuries generally use "
             "electric power, and include the electrical telegraph, telephone, television, and radio.")
    passages = [reply, "The telephone made voice calls over a long distance possible."]
    assert abstain.names_no_one(reply, asked, passages)
    assert not abstain.names_no_one(reply, asked)  # nothing says "distance" is a word, not a name
    assert not abstain.names_no_one("Bell patented it. Distance was no longer a barrier.", asked, passages)
    assert not abstain.names_no_one("Edison invented it.", "Who invented the light bulb?", passages)
    # a capitalised word within a sentence names someone, whatever the passages write
    assert not abstain.names_no_one("It was patented by Distance in 1876.", asked, passages)


def test_a_passage_sentence_led_by_a_pronoun_keeps_its_subject_in_a_chat():
    pelee = [("Mount Pelée", "Mount Pelée is a volcano in Martinique. Its most recent eruption was in 1932.")]
    said = ["Do you know anything about volcanoes?", "A volcano is a vent in the crust.", "When did it last erupt?"]
    assert abstain.with_its_subject("Its most recent eruption was in 1932.", pelee, said) == \
        "Mount Pelée: Its most recent eruption was in 1932."
    assert abstain.with_its_subject("Its most recent eruption was in 1932.", pelee,
                                    ["Tell me about Mount Pelée."]) == "Its most recent eruption was in 1932."
    assert abstain.with_its_subject("It erupted once.", pelee, said) == "It erupted once."  # not the passage's


def test_a_question_word_is_held_in_another_form_of_an_irregular_verb():
    play = [("Romeo and Juliet", "The Tragedy of Romeo and Juliet is a tragedy written by William Shakespeare.")]
    assert abstain.passage_reply(play, [], "Who wrote Romeo and Juliet?") == play[0][1]
    assert abstain.passage_reply(play, [], "Who sang Romeo and Juliet?") is None


def test_a_deed_asked_is_held_by_its_noun_in_y():
    """"Who discovered penicillin?" is answered by "... for the discovery of penicillin"
    (stems "discov" and "discoveri")."""
    fleming = [("Alexander Fleming", "Sir Alexander Fleming received the Nobel Prize for the discovery of penicillin.")]
    assert abstain.passage_reply(fleming, [], "Who discovered penicillin?") == fleming[0][1]


def test_a_question_that_goes_on_past_a_name_asks_no_relation_of_it():
    rind = [("Pemberline cheese", "Its rind is rubbed with juniper ash, which turns it grey.")]
    asked = "What is the rind of Pemberline rubbed with?"
    assert metrics.asked_relation(asked) is None
    assert metrics.asked_relation("What is the capital of the United States of America?") is not None
    assert not abstain.misses_the_question(rind[0][1], asked, rind)
    assert abstain.passage_reply(rind, [], asked) == "Pemberline cheese: " + rind[0][1]
    # a preposition the passage says as a verb: "across" -> "crosses"
    ferry = [("Lake Merrowin", "A ferry crosses it from the village of Tull to the village of Ebbing.")]
    assert abstain.passage_reply(ferry, [], "Which village does the ferry across Lake Merrowin start from?")


def test_who_did_something_to_a_thing_is_not_answered_by_a_sentence_without_that_thing():
    faraday = [("Electric generator", "The first electromagnetic generator, the Faraday disk, was invented in 1831 "
                                      "by British scientist Michael Faraday.")]
    assert abstain.misses_the_question(faraday[0][1], "Who invented the car?", faraday)
    benz = [("Car", "Karl Benz patented the first practical automobile, the Benz Patent-Motorwagen, in 1886; "
                    "the car had three wheels.")]
    assert not abstain.misses_the_question(benz[0][1], "Who invented the car?", benz)  # the verb in other words


def test_a_question_for_a_measure_is_answered_by_one_of_its_dimension():
    sahara = [("Sahara", "With an area of 9,200,000 square kilometres (3,600,000 sq mi), it is the largest hot "
                         "desert in the world.")]
    assert abstain.unanswered_number("How hot does it get?", sahara) is not None
    assert abstain.unanswered_number("How big is it?", sahara) is None
    hot = sahara + [("Sahara", "Temperatures can reach 58 °C in summer.")]
    assert abstain.unanswered_number("How hot does it get?", hot) is None


def test_a_question_typed_without_its_mark_is_read_as_one():
    assert abstain.as_typed_question("are they dangerous") == "are they dangerous?"
    assert abstain.as_typed_question("I just finished Harry Potter. who wrote it") == \
        "I just finished Harry Potter. who wrote it?"
    for kept in ("Who wrote it?", "I like dogs", "what a lovely day", "when I was a child we lived there",
                 "tell me about sharks", "Is it big."):
        assert abstain.as_typed_question(kept) == kept


def test_a_superlative_asked_is_not_answered_by_one_ranked():
    kenya = [("Mount Kenya", "Mount Kenya is the second highest mountain in Africa and the namesake of Kenya.")]
    assert abstain.misses_the_question(kenya[0][1], "what's the tallest mountain in africa?", kenya)
    kili = [("Mount Kilimanjaro", "It is the highest mountain in Africa.")]
    assert not abstain.misses_the_question(kili[0][1], "what's the tallest mountain in africa?", kili)
    assert not abstain.misses_the_question(kenya[0][1], "Is it the second highest mountain in Africa?", kenya)


def test_a_yes_no_question_s_words_said_back_are_no_passage_s():
    bees = [("Bee", "Some species – including honey bees, bumblebees, and stingless bees – are social insects "
                    "living in colonies, whereas over 90% of bee species are solitary."),
            ("Honey", "Honey is made and stored to nourish bee colonies.")]
    made_up = ("Some species of bees are known to sleep, including honey bees, which are social insects living in "
               "colonies.")
    assert abstain.echoes_the_question(made_up, "Do they ever sleep?", bees) == ["sleep"]
    assert abstain.echoes_the_question("Yes, honey bees live in colonies.", "Do they live in colonies?", bees) is None
    assert abstain.echoes_the_question("I love honey too.", "Do you like honey?", bees) is None  # asks the listener
    assert abstain.echoes_the_question(made_up, "What do bees do at night?", bees) is None  # not yes-no
    # the chat's reply, which every other check let through
    from rag_dialogue import reply_checks
    turns = ["What do bees eat?", "Bees are winged insects with over 20,000 known species.", "Do they ever sleep?"]
    assert [name for name, fails in reply_checks.checks(bees, turns, turns[:-1]) if fails(made_up)] == \
        ["echoes_the_question"]


def test_a_sentence_said_with_words_left_out_misses_what_is_asked_of_its_subject():
    bees = [("Bee", "Bees are winged insects that form a monophyletic clade Anthophila within the superfamily "
                    "Apoidea of the order Hymenoptera, with over 20,000 known species in seven recognized families."),
            ("Bee", "Bees feed on nectar and pollen.")]
    shortened = ("I know that bees are winged insects that form a monophyletic clade Anthophila within the order "
                 "Hymenoptera, with over 20,000 known species in seven recognized families.")
    assert abstain.misses_the_question(shortened, "What do bees eat?", bees)
    assert not abstain.misses_the_question("Bees feed on nectar and pollen, which they collect from flowers.",
                                           "What do bees eat?", bees)
    assert not abstain.misses_the_question(shortened, "What are bees?", bees)  # what they are is what it says


def test_where_is_not_answered_by_a_reply_that_says_no_place():
    members = "The Beatles were comprised of John Lennon, Paul McCartney, George Harrison, and Ringo Starr."
    assert abstain.gives_no_place(members, "Where were they from?")
    assert not abstain.gives_no_place("The Beatles were an English rock band formed in Liverpool in 1960.",
                                      "Where were they from?")
    assert not abstain.gives_no_place("It happens in the chloroplasts of plant cells.", "Where does it happen?")
    assert not abstain.gives_no_place("Ancient India.", "Where did chess begin?")  # the place alone
    assert not abstain.gives_no_place("I'm sorry, I don't know that.", "Where were they from?")
    assert not abstain.gives_no_place(members, "Who were they?")
    from rag_dialogue import reply_checks
    passages = [("The Beatles", "The band comprised John Lennon, Paul McCartney, George Harrison and Ringo Starr.")]
    assert reply_checks.fault(members, passages, ["I love the Beatles.", "Where were they from?"]) is not None
    # a time is no place: "in September 1969"
    assert abstain.gives_no_place("Although in September 1969 John Lennon privately informed the other Beatles that "
                                  "he was leaving the group, there was no public acknowledgement until 10 April 1970.",
                                  "Where were they from?")
    # nor an age, nor a range: as the chat answered of the Great Wall of China and the Beatles
    assert abstain.gives_no_place("The first walls date to the 7th century BC; these were joined together in the Qin "
                                  "dynasty.", "Where is it?")
    assert abstain.gives_no_place("The Beatles: They also explored styles ranging from folk and Indian music to "
                                  "psychedelia and hard rock.", "Where were they from?")
    assert not abstain.gives_no_place("It was built during the Edo period in Kyoto.", "Where is it?")
    assert not abstain.gives_no_place("They can be seen ranging across all continents except Antarctica.",
                                      "Where do they live?")  # (a WoW wizard's)
    # nor a state of things: what the chat said instead of the range
    assert abstain.gives_no_place("In 1963 their enormous popularity first emerged as \"Beatlemania\"; as the group's "
                                  "music grew in sophistication, the band were integral to pop music's evolution.",
                                  "Where were they from?")
    assert not abstain.gives_no_place("It is the largest city in the nation.", "Where is it?")
    # "the" is no place to read past: "in the early 1960s", "the most visited work of art in the world"
    assert abstain.gives_no_place("They formed in the early 1960s and were soon popular.", "Where were they from?")
    assert abstain.gives_no_place("It has been described as the most visited work of art in the world.",
                                  "Where is it now?")


def test_who_of_the_dialogues_subject_is_answered_by_a_persons_passage_that_names_it():
    moon = [("Neil Armstrong", "Neil Alden Armstrong was an American astronaut who became the first person to walk "
                               "on the Moon."),
            ("Apollo 11", "Apollo 11 was the American spaceflight that first landed humans on the Moon.")]
    said = ["Tell me about the Moon.", "The Moon is the only natural satellite of Earth."]
    assert abstain.passage_reply(moon, said, "Who was the first to walk on it?") == moon[0][1]
    # a person's passage that names nothing the dialogue named does not answer it
    eiffel = [("Horace Jones", "Tower Bridge was designed by Horace Jones.")]
    assert abstain.passage_reply(eiffel, ["Tell me about the Eiffel Tower.", "It is a tower in Paris."],
                                 "Who designed it?") is None
    # ... nor one that names what a reply named in passing (as the chat retrieved them for the Mona Lisa)
    supper = [("The Last Supper", "The Last Supper is a mural painting by the Italian High Renaissance artist "
                                  "Leonardo da Vinci.")]
    said = ["Tell me about the Mona Lisa.", "The Mona Lisa is a portrait painting by the Italian artist Leonardo da "
                                            "Vinci."]
    assert abstain.passage_reply(supper, said, "Who painted it?") is None


def test_a_title_of_another_kind_of_the_dialogues_subject_is_another_subject():
    guitar = ["I started learning the guitar.", "How many strings does it have?"]
    bass = ("Bass guitar", "The electric bass guitar most commonly has four strings, though five-, six-, and "
                           "seven-stringed models are also built.")
    assert abstain.another_kind("\n".join(guitar), "Bass guitar")
    assert abstain.another_subject(bass[1], guitar[-1], guitar, [bass, ("Guitar", "A guitar pick may be used.")])
    assert not abstain.another_subject(bass[1], "How many strings does a bass guitar have?",
                                       ["I play the bass guitar.", "How many strings does a bass guitar have?"], [bass])
    # told more exactly, or an aspect of the subject, it is the subject
    assert not abstain.another_kind("I love the guitar.", "Electric guitar")
    assert not abstain.another_kind("I'm learning about the heart.", "Human heart")
    assert not abstain.another_kind("Tell me about the Moon.", "Moon landing")
    assert not abstain.another_kind("I've been reading about the Great Wall of China.", "Great Wall of China")
    # a question word alone asks of what the dialogue is about: "Why?" after "Who built it?"
    wall = ["I've been reading about the Great Wall of China.", "Who built it?", "Why?"]
    cell = ("Cell wall", "Another vital role of the cell wall is to help the cell withstand osmotic pressure and "
                         "mechanical stress.")
    assert abstain.another_subject(cell[1], wall[-1], wall, [cell])
    assert not abstain.another_subject(cell[1], "Why do plant cells have walls?", wall[:-1] + ["Why do plant cells "
                                                                                               "have walls?"], [cell])


def test_a_yes_with_nothing_of_what_was_asked_behind_it_is_unsupported():
    penguins = [("Penguin", "Penguins are a group of flightless semi-aquatic sea birds which live almost exclusively "
                            "in the Southern Hemisphere."),
                ("Penguin", "Highly adapted for life in the ocean water, penguins have countershaded dark and white "
                            "plumage and flippers for swimming.")]
    made_up = ("Yes, highly adapted for life in the ocean water, penguins have countershaded dark and white plumage "
               "and flippers for swimming.")
    assert abstain.unsupported_answer_word(made_up, "Can they fly?", penguins)
    assert not abstain.unsupported_answer_word("Yes, they live almost exclusively in the Southern Hemisphere.",
                                               "Do they live in the Southern Hemisphere?", penguins)
    assert not abstain.unsupported_answer_word("Sure! Penguins are flightless sea birds.",
                                               "Can you tell me about penguins?", penguins)  # a request
    assert not abstain.unsupported_answer_word("Yes, I love them.", "Do you like penguins?", penguins)


def test_a_follow_up_s_verb_names_no_subject():
    passages = [("Penguin", "Penguins are a group of flightless semi-aquatic sea birds which live almost exclusively "
                            "in the Southern Hemisphere."),
                ("Fly", "A fly is an insect of the order Diptera, named for the single pair of wings.")]
    turns = ["Do you know anything about penguins?", passages[0][1], "Can they fly?"]
    assert abstain.another_subject(passages[1][1], "Can they fly?", turns, passages)
    # a word of the message that is no verb still names its subject: "steak" of "Do you like steak?"
    steak = [("Steak", "A steak is a meat generally sliced across the muscle fibers.")]
    assert not abstain.another_subject(steak[0][1], "What is it?", ["Do you like steak?", "Yes.", "What is it?"], steak)


def test_a_colour_a_month_or_a_season_asked_for_is_said_as_one():
    beetle = [("Gresh beetle", "The Gresh beetle is a large beetle found only on the island of Tavu. Adults are "
                               "about 6 centimetres long and have a bright orange shell.")]
    message = "What color is the Gresh beetle?"
    assert abstain.holds_some_asked("Adults are about 6 centimetres long and have a bright orange shell.", message)
    assert abstain.passage_reply(beetle, [], message) == ("Adults are about 6 centimetres long and have a bright "
                                                           "orange shell.")
    cheese = [("Pelorine", "Pelorine is a soft cheese made in the hill villages of Castavel. Each year the village of "
                           "Oresca holds a Pelorine festival in October.")]
    assert abstain.passage_reply(cheese, [], "In what month is the Pelorine festival?") == (
        "Each year the village of Oresca holds a Pelorine festival in October.")
    assert abstain.holds_some_asked("It is rowed every spring.", "What season is it rowed in?")


def test_words_said_in_other_forms():
    held = set(abstain._stems("Talvero Instruments is a maker of scientific barometers."))
    assert abstain._held_stems({"make"}, held) == {"make"}  # "maker" of "make", its "e" dropped
    assert abstain._held_stems({"start"}, set(abstain._stems("The company was founded in 1923."))) == {"start"}
    assert abstain._held_stems({"invent"}, set(abstain._stems("the inventor"))) == {"invent"}
    silk = [("Silk", "Silk is a natural protein fiber. It is most commonly produced from the cocoons of certain "
                     "insect larvae.")]
    assert abstain.passage_reply(silk, [], "What is silk made from?") == (
        "Silk: It is most commonly produced from the cocoons of certain insect larvae.")
    assert not abstain._held_stems({"make"}, set(abstain._stems("The market is open.")))


def test_an_event_after_which_something_was_done_gives_a_reason():
    assert abstain.gives_a_reason("The company closed its second factory in 1987 after a flood destroyed it.")
    assert not abstain.gives_a_reason("He moved to Paris after his graduation in 1920.")
    assert abstain.gives_no_reason("It employs about 340 people.", "Why did they close the second factory?")


def test_sure_answers_a_yes_no_question_as_yes_does():
    died = [("Mirela Ostadt", "She died in 1994 at the age of 71.")]
    assert abstain.unsupported_answer_word("Sure! She died in 1994 at the age of 71.", "Did she have children?", died)
    assert not abstain.unsupported_answer_word("Sure! She died in 1994.", "Can you tell me about her?", died)


def test_where_asked_by_its_verb_alone_takes_the_sentence_that_says_where():
    bread = [("Sennet bread", "Sennet bread is a flat rye bread from the coastal region of Lorvaig.")]
    said = ["I ate some sennet bread today.", "Sennet bread"]
    assert abstain.passage_reply(bread, said, "Where does it come from?") == bread[0][1]
    assert abstain.passage_reply([("Sennet bread", "Sennet bread is eaten with smoked herring.")], said,
                                 "Where does it come from?") is None  # no place: none


def test_the_thing_of_the_dialogue_is_not_another_article_s():
    said = ["How much does a Tesla cost?", "I'm sorry, I don't know that.", "Who started the company?"]
    further = [("Ford Motor Company", "It was founded by Henry Ford and incorporated on June 16, 1903."),
               ("Tesla", "Tesla was founded in 2003 by Martin Eberhard and Marc Tarpenning.")]
    assert abstain.of_the_dialogue(further, "Who started the company?", said) == further[1:]
    assert abstain.of_the_dialogue(further, "Who founded Ford?", said) == further  # it names its own
    skeleton = [("Human skeleton", "It is composed of around 270 bones at birth and 206 bones by adulthood.")]
    for message in ("How many bones are in the human body?", "How many bones are in the body?"):  # a first message
        assert abstain.of_the_dialogue(skeleton, message, [message]) == skeleton
    assert abstain.of_the_dialogue(skeleton, "How many bones are in the human body?", said) == skeleton
