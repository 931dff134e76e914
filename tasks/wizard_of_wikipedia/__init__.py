"""Wizard of Wikipedia (Dinan et al. 2019) through ParlAI's own teachers."""


def __getattr__(name):
    # so `-t rag_dialogue.tasks.wizard_of_wikipedia` finds the teachers in .agents
    if name.endswith("Teacher"):
        from rag_dialogue.tasks.wizard_of_wikipedia import agents

        return getattr(agents, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
