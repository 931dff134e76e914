"""The embedded dataset as a ParlAI task: `-t rag_dialogue.tasks.vital_articles.agents --va-split SPLIT`.

ParlAI's own WoW generator teacher reads the files (see `build.py` for the layout),
so messages carry the same fields as Wizard of Wikipedia (`text`, `labels`/`eval_labels`,
`checked_sentence`, `title`, `knowledge`, `rag_knowledge`) and knowledge F1 and rare-word
F1 are computed the same way. On the counterfactual splits each message also carries
`changed_facts`: the [old, new] pairs its gold response states (possibly none).
"""

import copy

from parlai.core.teachers import DialogTeacher
from parlai.utils.data import DatatypeHelper

from rag_dialogue.tasks.vital_articles.build import (
    KNOBS, SPLITS, BuildConfig, build, requested_config, root_dir, split_file,
)
from rag_dialogue.tasks.wizard_of_wikipedia.agents import GeneratorTeacher

# ParlAI's WoW split names (the task suffix after the teacher) -> ours
_SUFFIX_KIND = {"random_split": "seen", "topic_split": "unseen", "counterfactual_split": "counterfactual",
                "wow_split": "wow"}


def choose_split(opt) -> str:
    """--va-split if given; else from --datatype (train -> train, valid -> valid_seen, ...),
    with ParlAI's WoW task suffix picking the kind (`:topic_split` -> unseen)."""
    if opt.get("va_split"):
        return opt["va_split"]
    fold = DatatypeHelper.fold(opt.get("datatype", "train"))
    if fold == "train":
        return "train"
    parts = opt.get("task", "").split(":")
    suffix = parts[2] if len(parts) > 2 else "random_split"
    if suffix not in _SUFFIX_KIND:
        raise ValueError(f"unknown split suffix {suffix!r} in task; use one of {', '.join(_SUFFIX_KIND)}")
    return f"{fold}_{_SUFFIX_KIND[suffix]}"


def config_from_opt(opt) -> BuildConfig | None:
    """The build config the --va-* size options ask for (see `requested_config`)."""
    return requested_config(opt["datapath"], {k: opt.get(f"va_{k}") for k in KNOBS})


class _SplitFile(DialogTeacher):
    # ParlAI's WoW __init__ derives the file from --datatype and the task suffix, then
    # calls DialogTeacher.__init__. Placed between the two in the MRO, this swaps in the
    # file --va-split names (so e.g. display_data, which uses train:ordered, can show any split).
    def __init__(self, opt, shared=None):
        opt["datafile"] = opt["va_datafile"]
        changed_only = "_changed_only" if opt.get("va_changed_only") else ""  # ParlAI caches lengths by this name
        opt["length_datafile"] = f"{opt['va_datafile']}_{type(self).__name__}{changed_only}"
        super().__init__(opt, shared)


class VitalArticlesTeacher(GeneratorTeacher, _SplitFile):
    """Conversations about Wikipedia vital articles, in WoW's format (see module docstring)."""

    @classmethod
    def add_cmdline_args(cls, parser, partial_opt=None):
        super().add_cmdline_args(parser, partial_opt)
        group = parser.add_argument_group("Vital articles (embedded WoW-format dataset)")
        group.add_argument(
            "--va-split", type=str, default=None, choices=list(SPLITS),
            help="which split to read. Seen: train articles, new conversations; unseen: "
            "held-out articles; counterfactual: the unseen conversations with changed facts "
            "(messages carry changed_facts); wow: real Wizard of Wikipedia conversations (seen "
            "topics; valid_wow is held out of the valid-seen conversations train uses, "
            "test_wow is WoW test seen). Unset: from --datatype (train -> train, "
            "valid -> valid_seen, test -> test_seen; a task suffix :topic_split picks unseen, "
            ":counterfactual_split counterfactual). Leave it unset to train: train_model's "
            "validation then reads valid_seen",
        )
        group.add_argument(
            "--va-changed-only", type="bool", default=False,
            help="counterfactual splits: end each conversation at its last wizard turn that "
            "states a changed fact and leave out conversations without one, so an index-swap "
            "evaluation spends its examples on the turns it counts",
        )
        defaults = BuildConfig()
        for name, text in KNOBS.items():
            group.add_argument(
                f"--va-{name.replace('_', '-')}", type=int, default=None,
                help=f"{text} (unset: what is built, else {getattr(defaults, name)}; "
                "a different value rebuilds the dataset)",
            )
        return parser

    def __init__(self, opt, shared=None):
        opt = copy.deepcopy(opt)
        if "va_datafile" not in opt:  # (a shared copy arrives with this already done)
            if shared is None:
                build(opt["datapath"], config_from_opt(opt))
            self.va_split = choose_split(opt)
            opt["va_split"] = self.va_split
            opt["va_datafile"] = str(split_file(opt["datapath"], self.va_split))
            # ParlAI's WoW code reads <datapath>/wizard_of_wikipedia: point it at our folder
            opt["datapath"] = str(root_dir(opt["datapath"]))
        self.va_split = opt["va_split"]
        super().__init__(opt, shared)

    def len_episode(self, ep):
        length = super().len_episode(ep)
        if not (self.opt.get("va_changed_only") and "counterfactual" in self.va_split):
            return length
        dialog = self.raw_data[ep]["dialog"]
        changed = [i for i in range(length) if dialog[self.wizard_turn(ep, i)].get("changed_facts")]
        return changed[-1] + 1 if changed else 0

    def _format_example(self, episode_idx, entry_idx=0):
        action = super()._format_example(episode_idx, entry_idx)
        if "counterfactual" in self.va_split and "knowledge" in action:
            turn = self.raw_data[episode_idx]["dialog"][self.wizard_turn(episode_idx, entry_idx)]
            action["changed_facts"] = [list(pair) for pair in turn.get("changed_facts", [])]
        return action


class DefaultTeacher(VitalArticlesTeacher):
    pass
