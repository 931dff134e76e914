"""What a chat shows beside a reply: the retrieved passages and where each part of the reply came from."""

from typing import List, Optional


def format_docs(retrieval) -> str:
    lines = ["[retrieved passages]"]
    for rank, (p, score) in enumerate(zip(retrieval.passages, retrieval.scores), 1):
        lines.append(f"  {rank}. ({score:.2f}) {p.title}: {p.text}")
    return "\n".join(lines)


def render_attribution(tokens: List[int], posterior, tokenizer) -> Optional[str]:
    """A reply split into runs of words by the passage each most likely came from.

    :param tokens: the reply's token ids, without padding.
    :param posterior: ``[T, K]`` p(passage | reply so far) per token (at least len(tokens) rows).
    :return: ``[attribution] [1] words [2] words ...`` and each passage's share, or None
        for an empty reply.
    """
    if not tokens:
        return None
    best = posterior[: len(tokens)].argmax(-1).tolist()
    runs, start = [], 0
    for i in range(1, len(tokens) + 1):
        if i == len(tokens) or best[i] != best[start]:
            words = tokenizer.decode(tokens[start:i], skip_special_tokens=True).strip()
            if words:
                runs.append(f"[{best[start] + 1}] {words}")
            start = i
    shares = posterior[: len(tokens)].mean(0).tolist()
    return ("[attribution] " + "  ".join(runs) + "\n  passage shares: "
            + "  ".join(f"{k + 1}: {100 * p:.0f}%" for k, p in enumerate(shares)))
