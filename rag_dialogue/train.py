"""`rag-dialogue train -p PRESET`: ParlAI's train_model with a recipe, data prepared first."""

from rag_dialogue import presets


def train(preset_name: str, parlai_args=(), prepare_data: bool = True, **overrides) -> dict:
    """Prepare the recipe's data (unless the caller did), then run ParlAI's TrainModel;
    returns its final report."""
    from parlai.scripts.train_model import TrainModel

    from rag_dialogue.compat import run_parlai_script
    from rag_dialogue.prepare import prepare

    preset = presets.load(preset_name)
    preset.update(overrides)
    if prepare_data:
        prepare(preset)
    return run_parlai_script(TrainModel, parlai_args, **presets.parlai_options(preset))


def add_subparser(subparsers):
    p = subparsers.add_parser(
        "train", help="train with a recipe from opt_presets/ (ParlAI's train_model underneath)",
        description="Options not listed here go to ParlAI's train_model (-mf is required), e.g. "
        "`rag-dialogue train -p embedded_rag_token -mf runs/rag/model --max-train-time 600`.",
    )
    p.add_argument("-p", "--preset", required=True,
                   help=f"recipe name ({', '.join(presets.available())}) or a .yaml path")
    p.set_defaults(parlai_args=[], func=lambda args: train(args.preset, args.parlai_args) and 0)
