"""The chat's checks on a generated reply (`rag_dialogue.reply_checks`)."""

from rag_dialogue import reply_checks

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
