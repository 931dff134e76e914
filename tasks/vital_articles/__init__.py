"""Embedded WoW-format dataset built from Wikipedia vital-article summaries (offline)."""


def __getattr__(name):
    # so `-t rag_dialogue.tasks.vital_articles` finds the teachers in .agents, without
    # importing ParlAI whenever the builder alone is used
    if name.endswith("Teacher"):
        from rag_dialogue.tasks.vital_articles import agents

        return getattr(agents, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
