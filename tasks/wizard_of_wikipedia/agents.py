"""Wizard of Wikipedia through ParlAI's own teachers, plus what the RAG agent reads (`rag_knowledge`).

    -t rag_dialogue.tasks.wizard_of_wikipedia.agents                                  seen (random_split)
    -t rag_dialogue.tasks.wizard_of_wikipedia.agents:GeneratorTeacher:topic_split     unseen

ParlAI downloads and builds the data (`parlai.tasks.wizard_of_wikipedia.build`). Each
message carries ParlAI's generator-teacher fields: `text` (the chosen topic, then the
apprentice turn), `labels`/`eval_labels` (the wizard's response), `checked_sentence` and
`title` (the gold knowledge; both `no_passages_used` when the wizard used none or the
turn has no `checked_sentence`), `knowledge` in ParlAI's format (one
"title __knowledge__ sentence" per line, a `no_passages_used` line first) and ours:

    rag_knowledge   the same topic knowledge as one string, one "title / sentence" per
                    line, in ParlAI's order (chosen topic, then the passages retrieved for
                    the apprentice's and the wizard's previous turns), no placeholder line.

Knowledge F1 and rare-word F1 come from ParlAI's `custom_evaluation`, unchanged; the
teacher adds the hallucination measures of `rag_dialogue.metrics` (`hallucination_rate` and
the other category rates, `hallucination_score`, `grounding_precision`, and on counterfactual
examples `follow_rate`/`stale_rate`), so every ParlAI agent is scored alike.
"""

import functools
import json

from parlai.core.metrics import AverageMetric
from parlai.utils.data import DatatypeHelper
from parlai.tasks.wizard_of_wikipedia import agents as wow

KNOWLEDGE_SEPARATOR = " / "
_DATA_ERRORS = (KeyError, TypeError, AttributeError, IndexError)


class WowDataError(ValueError):
    """A WoW-style file that cannot be read; names the file and the episode at fault."""

    def __init__(self, path, episode: int | None, message: str):
        self.path, self.episode = str(path), episode
        where = f"{path}: episode {episode}" if episode is not None else str(path)
        super().__init__(f"{where}: {message}")


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) for s in value)


def episode_problem(episode) -> str | None:
    """What makes `episode` unreadable by ParlAI's WoW teachers, or None if nothing does.

    Required: `chosen_topic_passage` (list of sentences), `dialog` (non-empty list) whose
    turns have `speaker` and `text` (strings) and `retrieved_passages` (a list of
    {title: [sentences]}). Optional, as in ParlAI: `chosen_topic` (a string),
    `checked_sentence` and `checked_passage` ({key: string} objects).
    """
    if not isinstance(episode, dict):
        return f"is a {type(episode).__name__}, not a JSON object"
    for key, kind in (("chosen_topic_passage", list), ("dialog", list)):
        if key not in episode:
            return f"misses required field {key!r}"
        if not isinstance(episode[key], kind):
            return f"field {key!r} is not a list"
    if not _strings(episode["chosen_topic_passage"]):
        return "field 'chosen_topic_passage' must be a list of sentences (strings)"
    if not isinstance(episode.get("chosen_topic", ""), str):
        return "field 'chosen_topic' is not a string"
    if not episode["dialog"]:
        return "has an empty 'dialog'"
    for t, turn in enumerate(episode["dialog"]):
        if not isinstance(turn, dict):
            return f"turn {t} is not a JSON object"
        for key in ("speaker", "text", "retrieved_passages"):
            if key not in turn:
                return f"turn {t} misses required field {key!r}"
        for key in ("speaker", "text"):
            if not isinstance(turn[key], str):
                return f"turn {t}: field {key!r} is not a string"
        passages = turn["retrieved_passages"]
        if not isinstance(passages, list) or not all(
            isinstance(p, dict) and all(_strings(v) for v in p.values()) for p in passages
        ):
            return f"turn {t}: 'retrieved_passages' must be a list of {{title: [sentences]}}"
        for key in ("checked_sentence", "checked_passage"):
            value = turn.get(key, {})
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                return f"turn {t}: field {key!r} must be an object of strings"
    return None


def _broken_episode(text: str) -> int | None:
    """Index of the first top-level list element that does not parse (None if not a list)."""
    decoder, pos = json.JSONDecoder(), len(text) - len(text.lstrip())
    if not text.startswith("[", pos):
        return None
    pos, index = pos + 1, 0
    while True:
        pos += len(text[pos:]) - len(text[pos:].lstrip())
        if text.startswith("]", pos):
            return None
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return index
        pos += len(text[pos:]) - len(text[pos:].lstrip())
        if text.startswith(",", pos):
            pos += 1
        index += 1


def load_wow_file(path) -> list:
    """Read and check a WoW-schema JSON file; WowDataError names the file and the episode."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise WowDataError(path, None, f"not UTF-8 text ({e})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise WowDataError(path, None, "not valid JSON: nested too deeply") from None
    except json.JSONDecodeError as e:
        hint = " (truncated?)" if e.pos >= len(text.rstrip()) - 1 or "Unterminated" in e.msg else ""
        raise WowDataError(path, _broken_episode(text),
                           f"not valid JSON{hint}: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(data, list):
        raise WowDataError(path, None, f"must hold a JSON list of episodes, not a {type(data).__name__}")
    for i, episode in enumerate(data):
        problem = episode_problem(episode)
        if problem:
            raise WowDataError(path, i, problem)
    return data


def topic_knowledge(episode: dict, wizard_index: int) -> dict:
    """{title: [sentences]} shown to the wizard at dialog turn `wizard_index`, as ParlAI's
    WizardDialogKnowledgeTeacher collects it: the chosen topic, then the passages retrieved
    for the previous apprentice turn and for the wizard's previous turn."""
    knowledge = {episode.get("chosen_topic", ""): episode["chosen_topic_passage"]}
    for back in (1, 2):
        if wizard_index - back >= 0:
            for passage in episode["dialog"][wizard_index - back]["retrieved_passages"]:
                for title, sentences in passage.items():
                    knowledge.setdefault(title, sentences)
    return knowledge


def format_knowledge(knowledge: dict) -> str:
    """One "title / sentence" line per sentence (the `rag_knowledge` format)."""
    return "\n".join(f"{title}{KNOWLEDGE_SEPARATOR}{s}" for title, sents in knowledge.items() for s in sents)


def grounded_turns(examples):
    """Keep the (example, new_episode) pairs of ParlAI's WoW generator teacher whose reply
    is supported: not babble, and its statements (the reply less its questions) are not
    `hallucinated` against the turn's checked sentence and the dialogue so far. Human
    wizards say more than their sentence (their own story, guesses): about two replies in
    three of WoW valid seen score hallucinated against it, and a model trained on them
    learns to say what no passage says. A dropped turn's message and reply
    open the next kept example's text, so the dialogue history the agent sees is unchanged."""
    dialogue, skipped, starts = [], [], False
    for example, new_episode in examples:
        if new_episode:
            dialogue, skipped, starts = [], [], True
        reply = example["labels"][0]
        checked = example.get("checked_sentence") or ""
        knowledge = "" if checked == wow.TOKEN_NOCHOSEN else checked
        history = dialogue + [example["text"]]
        if _supported(reply, knowledge, tuple(history)):
            if skipped:
                example.force_set("text", "\n".join(skipped + [example["text"]]))
            yield example, starts
            skipped, starts = [], False
        else:
            skipped += [example["text"], reply]
        dialogue = history + [reply]


@functools.lru_cache(maxsize=None)
def _supported(reply: str, knowledge: str, history: tuple) -> bool:
    """`grounded_turns`' test of one reply. Kept for the process: an experiment builds the
    same training teacher for each of its stages, and the test costs about 5 s a time."""
    from rag_dialogue import metrics

    said = metrics.statements(reply)
    return not metrics.is_degenerate(reply) and (
        not said or metrics.response_category(said, knowledge, list(history)) != "hallucinated")


class GeneratorTeacher(wow.GeneratorTeacher):
    """ParlAI's WoW generator teacher, with `rag_knowledge`, errors that name the episode, and
    the hallucination measures of `rag_dialogue.metrics` for every agent's responses."""

    def __init__(self, opt, shared=None):
        super().__init__(opt, shared)
        self._dialogue = []  # the episode's turns so far, gold responses included

    def custom_evaluation(self, teacher_action, labels, model_response):
        """ParlAI's knowledge F1 and rare-word F1, then `metrics.score_response` of the reply
        against the topic knowledge and the dialogue so far (see rag_dialogue.metrics)."""
        super().custom_evaluation(teacher_action, labels, model_response)
        if self.label_type != "response" or not teacher_action or "knowledge" not in teacher_action:
            return
        self._dialogue.append(teacher_action.get("text", ""))
        if model_response and model_response.get("text") is not None:
            from rag_dialogue import metrics as measures

            knowledge = teacher_action.get("rag_knowledge") or teacher_action["knowledge"]
            scores = measures.score_response(model_response["text"], knowledge, self._dialogue,
                                             teacher_action.get("changed_facts"))
            for name, value in scores.items():
                self.metrics.add(name, AverageMetric(value))
        if labels:
            self._dialogue.append(labels[0])
        if teacher_action.get("episode_done"):
            self._dialogue = []

    @classmethod
    def add_cmdline_args(cls, parser, partial_opt=None):
        super().add_cmdline_args(parser, partial_opt)
        parser.add_argument_group("rag-dialogue WoW teacher").add_argument(
            "--train-on", type=str, default="all", choices=["all", "grounded"],
            help="training data only: `grounded` trains on the wizard replies that are not "
            "babble and whose statements (questions left out) rag_dialogue.metrics does not "
            "call hallucinated against the turn's checked sentence and the dialogue so far; "
            "the other turns stay in the history (their message and reply open the next "
            "trained example's text)",
        )
        return parser

    def setup_data(self, datafile):
        self._datafile = datafile
        try:
            examples = super().setup_data(datafile)
            if self.opt.get("train_on") == "grounded" and DatatypeHelper.is_training(self.opt.get("datatype", "")):
                examples = grounded_turns(examples)
            yield from examples
        except json.JSONDecodeError:
            load_wow_file(datafile)  # raises the same error with the episode named
            raise

    def _guarded(self, method, episode_idx, *args):
        try:
            return method(episode_idx, *args)
        except _DATA_ERRORS as e:
            path = getattr(self, "_datafile", self.opt.get("datafile"))
            if not isinstance(self.raw_data, list):
                raise WowDataError(path, None, "must hold a JSON list of episodes") from e
            problem = episode_problem(self.raw_data[episode_idx]) or f"{type(e).__name__}: {e}"
            raise WowDataError(path, episode_idx, problem) from e

    def len_episode(self, ep):
        return self._guarded(super().len_episode, ep)

    def wizard_turn(self, episode_idx: int, entry_idx: int) -> int:
        """Index in `dialog` of the wizard turn that example `entry_idx` answers with (ParlAI's rule)."""
        dialog = self.raw_data[episode_idx]["dialog"]
        return entry_idx * 2 if "Wizard" in dialog[0]["speaker"] else entry_idx * 2 + 1

    def _format_example(self, episode_idx, entry_idx=0):
        action = self._guarded(super()._format_example, episode_idx, entry_idx)
        if "knowledge" in action:  # (absent on batch padding)
            episode = self.raw_data[episode_idx]
            action["rag_knowledge"] = format_knowledge(
                topic_knowledge(episode, self.wizard_turn(episode_idx, entry_idx)))
        return action


class DefaultTeacher(GeneratorTeacher):
    pass
