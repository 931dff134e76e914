"""The chat's checks on a generated reply (`rag_dialogue.reply_checks`)."""

from rag_dialogue import abstain, metrics, reply_checks

OBSERVATORY = [("Vantorel Observatory", "The Vantorel Observatory is an astronomical observatory on Mount Crasken."),
               ("Vantorel Observatory", "Its main telescope has a mirror 3.2 metres across."),
               ("Vantorel Observatory", "Since 1978 it has been run by the University of Tessingford.")]


def test_a_fault_is_named_by_the_first_check_the_reply_fails():
    asked = ["Who runs the Vantorel Observatory?"]
    assert reply_checks.fault("Since 1978 it has been run by the University of Tessingford.",
                              OBSERVATORY, asked) is None
    assert reply_checks.fault("The Vantorel Observatory is the main astronomical observatory on Mount Crasken.",
                              OBSERVATORY, asked) == "inserted_word"
    # read out, but not what was asked
    assert reply_checks.fault(OBSERVATORY[0][1], OBSERVATORY, asked) == "misses_the_question"
    assert reply_checks.fault("I like it.", OBSERVATORY, asked) == "claims_nothing"
    founded = OBSERVATORY + [("Vantorel Observatory", "It was founded in 1894 by the astronomer Hedda Quorne.")]
    assert reply_checks.fault("It was founded by the astronomer Hedda Quorne in 1894 by the Vantorel Observatory.",
                              founded, ["Who founded the Vantorel Observatory?"]) == "unheld_agent"
    assert reply_checks.fault("It was built by the Romans in 1650 for the Emperor Tiberius.",
                              OBSERVATORY, asked) == "hallucinated"
    assert reply_checks.fault("It has a main telescope.", OBSERVATORY, ["Tell me about its telescope."]) is None


def test_every_check_has_a_name_of_its_own_and_runs_on_any_reply():
    names = [name for name, _ in reply_checks.checks(OBSERVATORY, ["Hello there."])]
    assert len(names) == len(set(names)) and "inserted_word" in names and "misses_the_question" in names
    for _, test in reply_checks.checks(OBSERVATORY, ["Hello there."]):
        for reply in ("", "ok", "Since 1978 it has been run by the University of Tessingford."):
            test(reply)
    joining = [name for name, _ in reply_checks.joining_checks(OBSERVATORY, ["Hello there."])]
    assert set(joining) < set(names) and "hallucinated" not in joining


def test_a_cause_no_passage_gives_is_taken_back():
    """Asked why dinosaurs went extinct, a reply joined a cause from a passage that gives a
    time ("after the ... extinction event") and another article's "leads to"."""
    passages = [("Dinosaur", "They became the dominant terrestrial vertebrates after the Triassic-Jurassic "
                             "extinction event 201.3 mya."),
                ("Extinction", "This difficulty leads to phenomena such as Lazarus taxa.")]
    turns = ["Tell me about the dinosaurs.", "Why did they go extinct?"]
    assert reply_checks.fault("They became extinct because of the Triassic-Jurassic extinction event.",
                              passages, turns) == "unheld_cause"
    # the cause its passage gives, in other words, stands
    blue = [("Sky", "It includes the atmosphere."),
            ("Blue", "The clear daytime sky appears blue because of an optical effect known as Rayleigh scattering.")]
    assert metrics.unheld_cause("The clear daytime sky appears blue due to Rayleigh scattering, an optical effect.",
                                blue, ["Why is the sky blue?"]) is None
    assert metrics.unheld_cause("It includes the atmosphere because of the sky.", blue, ["Why?"]) == "because"


def test_a_reply_that_gives_no_reason_to_why_is_taken_back():
    """"Why are flamingos pink?" got Flamingo's first sentence; "Why did it fall?", of the
    Roman Empire, the year the Western empire collapsed: neither says why."""
    flamingo = [("Flamingo", "Flamingos are a type of wading bird in the family Phoenicopteridae.")]
    assert reply_checks.fault(flamingo[0][1], flamingo, ["Why are flamingos pink?"]) == "gives_no_reason"
    rome = [("Roman Empire", "The Western Roman Empire collapsed in 476 AD."),
            ("Fall of the Western Roman Empire", "Increasing pressure from invading peoples outside Roman culture "
                                                 "also contributed greatly to the collapse.")]
    turns = ["Tell me about the Roman Empire.", "The Roman Empire was a state.", "Why did it fall?"]
    assert abstain.gives_no_reason(rome[0][1], turns[-1]) and reply_checks.fault(rome[0][1], rome, turns)
    assert reply_checks.fault(rome[1][1], rome, turns) is None
    assert not abstain.gives_no_reason("I'm sorry, I don't know that.", turns[-1])  # a decline gives none
    # a question why put to the listener asks for no cause in the world
    assert not abstain.gives_no_reason("I like how they look.", "Why do you like flamingos?")


def test_a_date_of_another_deed_is_taken_back():
    """"When did the Berlin Wall fall?" got the date its building began."""
    wall = [("Berlin Wall", "Construction of the Berlin Wall was commenced by the government of the GDR on "
                            "13 August 1961."),
            ("Berlin Wall", "The Berlin Wall fell on 9 November 1989.")]
    asked = ["When did the Berlin Wall fall?"]
    assert reply_checks.fault(wall[0][1], wall, asked) == "tells_another_deed"
    assert reply_checks.fault(wall[1][1], wall, asked) is None
    # the deed in other words stands: "began" for "start", "constructed" for "built"
    assert not abstain.tells_another_deed("It began with the Estates General of 1789.", "When did it start?")
    assert not abstain.tells_another_deed("It was constructed from 1887 to 1889.", "When was it built?")
    assert not abstain.tells_another_deed("It occurred from 1346 to 1353.", "When did it happen?")  # no deed asked
    # a deed told in words of one's own is not checked ("come out" for a release)
    assert not abstain.tells_another_deed("It was released in May, 1997.", "When did it come out?")


def test_a_made_up_sentence_is_taken_back_though_a_true_one_carries_the_whole():
    # as the chat answered "Do you know who Ada Lovelace was?"; she was the Countess
    ada = [("Ada Lovelace", "Lovelace is often considered the first computer programmer."),
           ("Ada Lovelace", "Augusta Ada King, Countess of Lovelace, also known as Ada Lovelace, was an English "
                            "mathematician and writer chiefly known for work on Charles Babbage's proposed mechanical "
                            "general-purpose computer, the analytical engine.")]
    asked = ["Do you know who Ada Lovelace was?"]
    true = "Lovelace was an English mathematician and writer."
    made_up = true + " She was the daughter of the Countess of Lovelace, who was a mathematician and poet."
    knowledge = reply_checks.knowledge_text(ada)
    assert not metrics.is_hallucinated(made_up, knowledge, asked, threshold=reply_checks.SUPPORT_THRESHOLD)
    assert reply_checks.fault(made_up, ada, asked) == "hallucinated_sentence"
    assert reply_checks.fault(true, ada, asked) is None
    assert reply_checks.fault(true + " She is often considered the first computer programmer.", ada, asked) is None


def test_a_sentence_cut_before_the_part_that_answers_is_taken_back():
    # as the chat answered "When did people first land on it?" of the Moon
    moon = [("Moon landing", "The first human-made object to touch the Moon was Luna 2 in 1959, and the first "
                             "crewed mission to land on the Moon was Apollo 11 in 1969."),
            ("History of spaceflight", "The United States landed the first men on the Moon in 1969.")]
    asked = ["Tell me about the Moon.", "The Moon is the only natural satellite of Earth.",
             "When did people first land on it?"]
    cut = "The first human-made object to touch the Moon was Luna 2 in 1959."
    assert reply_checks.fault(cut, moon, asked, asked[:-1]) == "leaves_out_the_answer"
    assert abstain.leaves_out_the_answer(cut, asked[-1], moon) == moon[0][1]
    assert reply_checks.fault(moon[1][1], moon, asked, asked[:-1]) is None
    # what the opening answers, it answers
    assert abstain.leaves_out_the_answer(cut, "When did the first object touch the Moon?", moon) is None


def test_what_a_name_is_said_to_be_must_be_said_of_it():
    # as the chat answered "Who gave it?" of the Statue of Liberty: Eiffel was an engineer
    statue = [("Statue of Liberty", "The copper-clad statue, a gift to the United States from the people of France, "
                                    "was designed by French sculptor Frederic Auguste Bartholdi, and its metal "
                                    "framework built by Gustave Eiffel.")]
    asked = ["I'm reading about the Statue of Liberty.", "It is a colossal sculpture on Liberty Island.",
             "Who gave it?"]
    made_up = "It was a gift from the people of France, and it was built by Gustave Eiffel, a French sculptor."
    assert metrics.unheld_apposition(made_up, statue, asked) == "Gustave Eiffel, a French sculptor"
    assert reply_checks.fault(made_up, statue, asked, asked[:-1]) == "unheld_apposition"
    assert metrics.unheld_apposition("It was designed by Frederic Auguste Bartholdi, a French sculptor.",
                                     statue, asked) is None
    assert metrics.unheld_apposition("Yes, a gift from the people of France.", statue, asked) is None
