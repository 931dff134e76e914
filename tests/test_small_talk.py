from rag_dialogue import small_talk


def test_small_talk_only_is_answered_in_kind():
    assert small_talk.reply_to("hi") == small_talk.REPLIES["greeting"]
    assert small_talk.reply_to("Hello there!") == small_talk.REPLIES["greeting"]
    assert small_talk.reply_to("Good morning") == small_talk.REPLIES["greeting"]
    assert small_talk.reply_to("Hi! How are you today?") == small_talk.REPLIES["how"]  # how it is goes first
    assert small_talk.reply_to("Thank you so much!") == small_talk.REPLIES["thanks"]
    assert small_talk.reply_to("ok bye") == small_talk.REPLIES["bye"]
    assert small_talk.reply_to("hi hi") == small_talk.REPLIES["greeting"]


def test_a_message_that_says_more_is_answered_from_the_passages():
    for message in ("Hi, I'm planning a trip to Japan.", "hey there, what is the tallest mountain?",
                    "How are you different from a search engine?", "Thanks, what else?", "Why?", "",
                    "Hi Mark", "See you at the Louvre"):
        assert small_talk.reply_to(message) is None, message


def test_a_question_about_the_present_moment_is_told_the_chat_cannot_know():
    from rag_dialogue.metrics import declines

    for message in ("What's the weather like today?", "What time is it?", "Who won the game tonight?",
                    "Is it going to rain tomorrow?"):
        assert small_talk.about_the_moment(message) == small_talk.NOT_NOW, message
    assert declines(small_talk.NOT_NOW)  # counted as a decline, not a claim
    # not a question, about the listener, or about a time the passages may hold
    for message in ("I went hiking today.", "What are you doing today?", "How are you today?",
                    "What happened in 1912?", "What is the capital of France?"):
        assert small_talk.about_the_moment(message) is None, message


def test_an_opening_that_says_nothing_to_talk_about_is_asked_what_it_is_about():
    for message in ("why?", "what?", "hmm", "?"):
        assert small_talk.unclear_opening(message) == small_talk.UNCLEAR, message
    for message in ("Why is the sky blue?", "hi", "Tell me about tea.", "", "What do you like about it?"):
        assert small_talk.unclear_opening(message) is None, message


def test_a_request_for_advice_is_told_the_chat_has_no_taste_of_its_own():
    for message in ("What's a good movie to watch tonight?", "Can you recommend a good book?",
                    "I'm learning to cook. Any tips?", "Who is the best player ever?", "Which is the worst film?"):
        judged = message.startswith(("Who", "Which"))  # a judgement of taste: no "recommend"
        assert small_talk.asks_for_advice(message) == (small_talk.NO_OPINION if judged else small_talk.NO_TASTE)
        assert small_talk.about_the_moment(message) is None, message  # "tonight" asks for no news
    for message in ("What is a good source of protein?", "When should I plant them?", "I'm bored.",
                    "What is the best-selling album of all time?", "Who was the best man at their wedding?",
                    "Any tips? Also, who wrote Hamlet?"):  # a question for a fact beside it
        assert small_talk.asks_for_advice(message) is None, message


def test_a_question_for_the_chats_favourite_is_told_it_has_none():
    from rag_dialogue.abstain import OF_ITSELF

    for message in ("What's your favourite colour?", "whats ur fave food", "I love blue. What is your favorite color?"):
        assert small_talk.asks_its_favourite(message) == OF_ITSELF, message
    for message in ("What is my favourite colour?", "Blue is my favourite colour.",
                    "What's your favourite colour? And who painted the Mona Lisa?"):
        assert small_talk.asks_its_favourite(message) is None, message


def test_boredom_is_answered_in_kind():
    assert small_talk.reply_to("I'm so bored") == small_talk.REPLIES["bored"]
    assert small_talk.reply_to("Hi! I'm bored.") == small_talk.REPLIES["greeting"]


def test_how_the_speaker_feels_is_answered_in_kind():
    # "I'm so tired today." got Fatigue (material)'s "fatigue is the initiation of cracks ..."
    for message in ("I'm so tired today.", "im sad", "Feeling down today", "I am sick and tired"):
        assert small_talk.reply_to(message) == small_talk.FEELING_REPLIES["low"], message
    for message in ("I feel great!", "I'm really happy today"):
        assert small_talk.reply_to(message) == small_talk.FEELING_REPLIES["high"], message
    # a message that says more is answered from the passages
    for message in ("I'm tired of people who lie.", "I'm happy today because I got a puppy.",
                    "I'm well aware of that.", "I'm reading about the Roman Empire."):
        assert small_talk.reply_to(message) is None, message
