"""Names in a reply come from its passage or the dialogue (rag_dialogue/grounded_names.py)."""

import pytest
import torch
from conftest import ngram_blocked_after

from rag_dialogue.grounded_names import (AllowedNames, NameTokens, close_unstated_names, closed_tokens, names_in,
                                         names_per_row, opens_sentence, spare_names_from_ngram_blocking,
                                         unheld_names)
from rag_dialogue.rag import rag_token_next_log_probs

MCDONALDS = ("McDonald's", "It was founded in 1940 as a restaurant operated by Richard and Maurice McDonald, "
                           "in San Bernardino, California.")
CORGI = ("Welsh Corgi", "Two breeds are recognized: the Pembroke Welsh Corgi and the Cardigan Welsh Corgi.")


@pytest.fixture(scope="module")
def tokens(smollm2_tokenizer):
    return NameTokens(smollm2_tokenizer, len(smollm2_tokenizer))


def _piece(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert len(ids) == 1, (text, tokenizer.convert_ids_to_tokens(ids))
    return ids[0]


def _is_open(tokenizer, tokens, text, allowed, piece):
    logits = close_unstated_names(torch.zeros(1, len(tokenizer)), [text], [allowed], tokens)
    return logits[0, _piece(tokenizer, piece)].item() == 0.0


def test_words_and_where_a_sentence_begins():
    assert names_in(["St. Louis's beer", "Jean-Paul", "the 3D film"]) == {"St", "Louis", "Jean", "Paul", "D"}
    # a stopword written with a capital only where a sentence opens is no name ("it was There")
    assert names_in(["There are two breeds. It was bred in Wales, and The Kennel Club lists it."]) == \
        {"Wales", "The", "Kennel", "Club"}
    assert names_in(["Paris is big."]) == {"Paris"}  # a name opening a sentence still is one
    assert opens_sentence("") and opens_sentence("Yes. ") and opens_sentence('Yes. "') and opens_sentence('"')
    assert opens_sentence("Corgi: ") and opens_sentence("Really?\n") and opens_sentence("(")
    assert not opens_sentence("It was founded in ") and not opens_sentence("It is, ")
    assert not opens_sentence('the fairy tale "') and not opens_sentence("the term (")


def test_a_name_may_only_go_the_way_of_one_the_row_holds(smollm2_tokenizer, tokens):
    allowed = AllowedNames.of(["Do you like McDonald's?", " ".join(MCDONALDS)])

    def is_open(text, piece):
        return _is_open(smollm2_tokenizer, tokens, text, allowed, piece)

    assert is_open("It was founded in San", " Bern")  # " Bern" begins "Bernardino"
    assert not is_open("It was founded in San", " Francisco")  # the generator's memory
    assert is_open("It was founded in", " San") and not is_open("It was founded in", " Chicago")
    assert is_open("It was founded in San", ",")  # "San" is a word the row holds: it may end
    # a sentence's first word, lowercase words, "I" and letters after a digit are free
    assert is_open("", "Chicago") and is_open("I like it. ", "Chicago") and is_open("It is", " I")
    assert is_open("It is a 3", "D") and is_open("a 3D", "ime")
    assert not is_open("It was founded as a", " Rest")  # the passage writes "restaurant"
    assert is_open("It was founded in", " city") and is_open("It was founded in", " a")


def test_a_name_goes_on_only_as_a_name_of_its_texts_does(smollm2_tokenizer, tokens):
    """Each word of "Mount Emperor" is held ("Mount Tai", "Jade Emperor Peak"), but not the
    name: after "Mount" only "Tai" begins a word of a name (a chat reply said "The tallest
    mountain in the world is Mount Emperor, which is 1,545.")."""
    tai = AllowedNames.of(["What is the tallest mountain in the world?",
                           "Mount Tai The tallest peak is the Jade Emperor Peak, which is 1,545 meters tall."])

    def is_open(text, piece):
        return _is_open(smollm2_tokenizer, tokens, text, tai, piece)

    assert not is_open("The tallest mountain in the world is Mount", " Emperor")
    assert is_open("The tallest mountain in the world is Mount", " T")  # on its way to "Tai"
    assert is_open("The tallest peak is the Jade", " Emperor") and is_open("the Jade", " Peak")  # a word left out
    assert not is_open("the Jade Emperor", " J") and not is_open("the Jade Emperor", " Mount")
    assert is_open("The tallest mountain in the world is Mount", ",")  # a name may end
    assert is_open("It is in Mount", " I")  # "I" is no name
    assert is_open("The tallest mountain in the world is", " Emperor")  # a name may begin with any held word
    corgis = AllowedNames.of(["Tell me about corgis.", " ".join(CORGI)])
    assert not _is_open(smollm2_tokenizer, tokens, "the Cardigan Welsh", corgis, " Card")
    assert _is_open(smollm2_tokenizer, tokens, "the Cardigan Welsh", corgis, " C")  # "Corgi"


def test_a_name_begun_can_only_end_as_one_the_row_holds(smollm2_tokenizer, tokens):
    """"Pembrokeshire" and "Cormi" are words no passage holds: once "Pemb" and "Cor" are
    written, the row can only go on towards "Pembroke" and "Corgi" (or "corgis")."""
    allowed = AllowedNames.of(["Tell me about corgis.", " ".join(CORGI)])
    assert smollm2_tokenizer.tokenize(" Pembrokeshire Cormi") == ["ĠP", "emb", "rokes", "hire", "ĠC", "orm", "i"]

    def ways_on(text):
        groups, only = closed_tokens(text, allowed, tokens)
        assert only
        return {smollm2_tokenizer.decode([i]) for i in groups[0] if i not in tokens.unfinished_bytes}

    assert ways_on("the Pemb") == {"r", "ro", "roke"}
    assert ways_on("the Cor") == {"g", "gi"}  # "CORGI" and "CorgI" are not the passage's
    # a whole word the row holds may end, or go on only as another word it holds
    groups, only = closed_tokens("the Pembroke", allowed, tokens)
    closed = set(torch.cat([torch.as_tensor(g, dtype=torch.long) for g in groups]).tolist())
    assert not only and _piece(smollm2_tokenizer, "shire") in closed and _piece(smollm2_tokenizer, ",") not in closed


def test_each_row_keeps_to_its_own_passage_and_the_mixture_follows_the_prior(smollm2_tokenizer, tokens):
    """RAG-Token's two rows after "It was founded in San": the generator likes " Francisco"
    under both; closed per row, only the row whose passage says "San Bernardino" may go
    on, and it does."""
    vocab = len(smollm2_tokenizer)
    francisco, bern = _piece(smollm2_tokenizer, " Francisco"), _piece(smollm2_tokenizer, " Bern")
    logits = torch.full((2, vocab), -20.0)
    logits[:, francisco], logits[:, bern] = 8.0, 2.0
    rows = names_per_row(["Where was it founded?"], [[MCDONALDS, CORGI]], row_per_passage=True)
    closed = close_unstated_names(logits, ["It was founded in San"] * 2, rows, tokens)
    prior = torch.tensor([[0.0, 3.0]])  # the corgi row is the likelier: it holds neither name
    assert rag_token_next_log_probs(logits[:, None], prior).argmax(-1).item() == francisco
    assert rag_token_next_log_probs(closed[:, None], prior).argmax(-1).item() == bern
    assert closed[1, bern].item() == float("-inf") and closed[0, francisco].item() == float("-inf")
    # a name that another row began goes on in this row too, as that row's passage writes it
    assert closed_tokens("It was founded in San Bern", rows[1], tokens) == \
        closed_tokens("It was founded in San Bern", rows[0], tokens)
    # a name no row holds (begun as a sentence's first word) can only end
    stranded = close_unstated_names(torch.zeros(1, vocab), ["It is the Zorb"], [rows[1]], tokens)
    assert stranded[0, _piece(smollm2_tokenizer, ",")].item() == 0.0
    assert stranded[0, _piece(smollm2_tokenizer, "ing")].item() == float("-inf")
    # nor does a name go on in pieces of bytes ("Pembrok\u00e8"), unless a word it holds does
    assert not set(tokens.unfinished_bytes) & set(closed_tokens("the Pemb", rows[1], tokens)[0][0])
    zoe = AllowedNames.of(["Zo\u00eb Kravitz sings."])
    assert set(tokens.unfinished_bytes) <= set(closed_tokens("met Zo", zoe, tokens)[0][0])
    free = torch.zeros(1, vocab)  # a sentence's first word: nothing closed, nothing copied
    assert close_unstated_names(free, ["Yes. "], [rows[0]], tokens) is free


def test_rows_follow_the_models_layout():
    passages = [[("A", "Paris is big."), ("B", "Rome is old.")], [("C", "Oslo.")]]
    per_passage = names_per_row(["Hi Ann", "Hi"], passages, row_per_passage=True)
    assert ["Paris" in r.words and "Ann" in r.words and "Rome" not in r.words for r in per_passage[:1]] == [True]
    assert [len(per_passage), "Rome" in per_passage[1].words, "Oslo" in per_passage[2].words] == [3, True, True]
    fused = names_per_row(["Hi Ann", "Hi"], passages, row_per_passage=False)  # FiD: one row an example
    assert len(fused) == 2 and {"Paris", "Rome", "Ann"} <= fused[0].words


def test_the_names_a_reply_writes_that_no_text_holds():
    reply = 'It opened in San Francisco in 1940. "Big Mac" came later, a 3D sign too; I like it.'
    assert unheld_names(reply, [" ".join(MCDONALDS)]) == {"Francisco", "Mac"}


def test_ngram_blocking_passes_over_a_name_written_again(smollm2_tokenizer, tokens):
    """ParlAI's greedy search with --beam-block-ngram 3: the second "Pembroke" repeats the
    trigram "ĠP emb roke"; blocked, a reply held to its passage's names had no way on."""
    def blocked_after(text, spared):
        return ngram_blocked_after(smollm2_tokenizer, text, (lambda tree: spare_names_from_ngram_blocking(tree, tokens)) if spared else None)

    again = "the Pembroke Welsh Corgi and the Pemb"
    assert blocked_after(again, spared=False) == {"roke"} and blocked_after(again, spared=True) == set()
    first = smollm2_tokenizer.decode(smollm2_tokenizer.encode(" Corgi", add_special_tokens=False)[:1])
    assert blocked_after("so the Welsh Corgi and the Welsh", spared=True) == {first}  # a name's first piece
    assert blocked_after("I saw the tower and the tower", spared=True) == {" and"}  # word loops stay blocked
    assert tokens.in_name(smollm2_tokenizer.encode("the Pemb", add_special_tokens=False))
    assert not tokens.in_name(smollm2_tokenizer.encode("the pemb", add_special_tokens=False))


def test_a_reply_so_far_ends_inside_a_name_or_a_number():
    from rag_dialogue.grounded_names import inside_name_or_number

    for inside in ("the Cardigan Welsh", "Yes, the Pembroke", "It is 1,", "It is 1", "It was 3."):
        assert inside_name_or_number(inside), inside
    for free in ("", "The", "I", "It is", "the", "He said so. Then"):
        assert not inside_name_or_number(free), free
