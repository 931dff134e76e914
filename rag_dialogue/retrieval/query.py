"""The retrieval query built from the dialogue history."""


def retrieval_query(turns: list[str], last_n_turns: int | None = None, keep_first: bool = False) -> str:
    """Join the last `last_n_turns` turns (None or 0: all) with "\\n", as ParlAI joins history.

    `keep_first` keeps the first turn too, where Wizard of Wikipedia (and ParlAI's WoW
    teachers) put the chosen topic: Dinan et al. (2019) retrieve with the topic and the
    last two turns, so "tell me more" still finds the topic's passages.

    Word-level truncation is left to `TextEncoder.tokenize(..., truncate_left=True)`,
    which keeps the most recent words; ParlAI's own RAG cut the newest turn instead.
    """
    if last_n_turns is not None and last_n_turns < 0:
        raise ValueError(f"last_n_turns must be >= 0 (0 = all turns), got {last_n_turns}")
    if last_n_turns and len(turns) > last_n_turns:
        turns = ([turns[0]] if keep_first else []) + turns[-last_n_turns:]
    return "\n".join(turns)
