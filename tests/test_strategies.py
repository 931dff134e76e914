"""The generation types: each one complete, chosen in one place, with its recipes."""

import inspect

import pytest
import torch

from rag_dialogue import presets
from rag_dialogue.experiment import CONDITIONS
from rag_dialogue.rag import marginalise_sequences, marginalise_tokens
from rag_dialogue.strategies import RAG_TYPES, STRATEGIES, Strategy, strategy_for

PARTS = sorted(Strategy.__abstractmethods__)


def test_the_parts_of_a_type_are_rows_loss_decoding_and_attribution():
    assert PARTS == ["attribution", "encode", "generate", "loss", "passages"]


@pytest.mark.parametrize("name", RAG_TYPES)
def test_every_type_has_every_part_of_its_own(name):
    cls = STRATEGIES[name]
    missing = [part for part in PARTS if part not in vars(cls)]
    assert not missing, f"{cls.__name__} lacks {missing}"
    for flag in ("name", "retrieves", "streams"):
        assert flag in vars(cls), f"{cls.__name__} does not say {flag}"
    assert cls.__bases__ == (Strategy,)  # flat: one level below the interface
    assert strategy_for(name).name == name


def test_a_type_lacking_a_part_cannot_be_built():
    class Incomplete(Strategy):
        name, retrieves, streams = "incomplete", True, True

        def passages(self, inp, retrieve):
            return [], None

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_an_unknown_type_is_a_clear_error():
    with pytest.raises(ValueError, match="--rag-type must be one of token, sequence, none, gold, fid, not 'tokne'"):
        strategy_for("tokne")


def test_the_option_offers_every_registered_type():
    from parlai.core.params import ParlaiParser

    from rag_dialogue.args import add_rag_args

    parser = ParlaiParser(False, False)
    add_rag_args(parser)
    action = next(a for a in parser._actions if "--rag-type" in a.option_strings)
    assert tuple(action.choices) == RAG_TYPES


@pytest.mark.parametrize("family", ["embedded", "wow_bart_large"])
def test_every_condition_has_a_recipe_of_a_registered_type(family):
    types = {presets.load(f"{family}_{c}")["rag_type"] for c in CONDITIONS}
    assert types == set(RAG_TYPES)


def test_losses_per_type():
    g = torch.Generator().manual_seed(0)
    lp = -torch.rand(2, 3, 4, generator=g)
    scores = torch.randn(2, 3, generator=g)
    notnull = torch.tensor([[True] * 4, [True, True, False, False]])
    lp = lp.masked_fill(~notnull[:, None], 0.0)
    nll, per_token = strategy_for("token").loss(lp, scores, notnull)
    assert torch.allclose(nll, -(marginalise_tokens(lp, scores) * notnull).sum(-1))
    assert per_token.shape == (2, 4) and per_token[1, 2:].eq(0).all()
    nll, per_token = strategy_for("sequence").loss(lp, scores, notnull)
    assert per_token is None and torch.allclose(nll, -marginalise_sequences(lp, scores))
    one_row = lp[:, :1]  # FiD, none, gold: one row per example, the generator's own likelihood
    for name in ("fid", "none", "gold"):
        nll, _ = strategy_for(name).loss(one_row, torch.zeros(2, 1), notnull)
        assert torch.allclose(nll, -one_row[:, 0].sum(-1)), name


def test_only_the_per_passage_types_attribute_to_passages():
    lp, scores = -torch.rand(1, 3, 2), torch.zeros(1, 3)
    for name in RAG_TYPES:
        posterior = strategy_for(name).attribution(lp, scores)
        assert (posterior is not None) == (name in ("token", "sequence")), name


def test_every_type_but_the_baseline_holds_its_numbers_to_its_passages():
    # the no-knowledge baseline reads no passage: its numbers stay its own, the measure of what
    # retrieval changes
    assert sorted(name for name, cls in STRATEGIES.items() if cls.grounded) == ["fid", "gold", "sequence", "token"]


def test_no_module_but_the_registry_names_a_type():
    """The model and the agent ask the strategy, never compare a type's name."""
    import rag_dialogue.agent
    import rag_dialogue.model

    for module in (rag_dialogue.model, rag_dialogue.agent):
        source = inspect.getsource(module)
        for name in RAG_TYPES:
            assert f'== "{name}"' not in source and f'!= "{name}"' not in source, (module.__name__, name)
        assert "RETRIEVAL_TYPES" not in source
