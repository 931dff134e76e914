"""The wizard turns of a ParlAI task with their gold knowledge: knowledge selection's data."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SelectionExample:
    """One wizard turn: the dialogue before it (turns, as the agent's history splits) and its gold knowledge."""

    turns: tuple
    title: str
    sentence: str

    @property
    def said(self) -> str:
        return "\n".join(self.turns)


def dialogue_examples(task_opts: dict, limit: int | None = None) -> list[SelectionExample]:
    """The wizard turns with gold knowledge of a ParlAI task, in order.

    `task_opts` are ParlAI options (task, datatype, datapath and the teacher's own, e.g.
    va_split). The history is rebuilt as ParlAI's `History` joins it (each message's text,
    then its label), so the queries equal those the agent will see.
    """
    import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
    from parlai.core.params import ParlaiParser
    from parlai.core.teachers import create_task_agent_from_taskname

    from rag_dialogue.metrics import gold_passage

    opts = dict(task_opts)
    fold = opts.get("datatype", "train").split(":")[0]
    opts["datatype"] = "train:ordered" if fold == "train" else fold  # one pass, in order
    opt = ParlaiParser(True, False).parse_kwargs(**opts)
    teacher = create_task_agent_from_taskname(opt)[0]
    delimiter = opt.get("delimiter", "\n")
    examples, history = [], []
    while not teacher.epoch_done() and (limit is None or len(examples) < limit):
        obs = teacher.act()
        if not obs or obs.get("text") is None:
            break
        history.append(obs["text"])
        gold = gold_passage(obs)
        if gold is not None:
            examples.append(SelectionExample(tuple(delimiter.join(history).split(delimiter)), *gold))
        labels = obs.get("labels") or obs.get("eval_labels")
        if labels:
            history.append(labels[0])
        if obs.get("episode_done"):
            history = []
    return examples
