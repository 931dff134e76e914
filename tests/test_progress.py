"""The experiment's progress bars: what moves them, and never past their end."""

from rag_dialogue import progress


def test_a_step_bar_counts_training_steps_not_evaluation_examples():
    with progress.bar(3, "training", unit="step") as bar:
        progress.advance(steps=1, step=1)
        progress.advance(examples=16)  # the closing evaluation of train_model
        assert bar.n == 1
        for _ in range(5):
            progress.advance(steps=1)
        assert bar.n == 3  # capped at its total (tqdm cannot print a bar past it)


def test_an_example_bar_counts_examples_and_stops_at_its_total():
    with progress.bar(20, "evaluating", unit="ex") as bar:
        progress.advance(examples=16)
        progress.advance(examples=16)
        assert bar.n == 20


def test_advancing_without_a_bar_does_nothing():
    progress.advance(examples=4, steps=1)
