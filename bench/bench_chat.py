"""A chat reply's time: the way the chat used to generate against the way it does now.

Loads the same model and index once per configuration and asks each the same questions
in turn (question by question, so a noisy machine slows all alike), each question in a
new conversation, through `rag_dialogue.chat.converse` (what `rag-dialogue chat` runs):

  before       float weights, the reply ends after its second sentence (the chat until now;
               `rag-dialogue chat --no-int8`)
  int8 apart   int8 decoding with one product per linear layer (this version's int8
               until q, k and v, and gate and up, shared one)
  no number    int8 decoding, a question asking for a number searched greedily like any
               other (`--answer-asked-number false`: the chat until this version)
  int8         int8 decoding (`--int8-inference`: the decoder layers' and the output
               layer's weights, one new token per row; prompts stay float), and a question
               asking for a number searched with two hypotheses, no sentence ending before
               one: `rag-dialogue chat`
  no fallback  int8, a reply its passages do not support left as it is
               (`--chat-passage-fallback false`: the chat until this version)
  1 sentence   int8, `--max-sentences 1`
  no rules     int8, without numbers held to the passages (`--numbers-from-passages false`)
               and names ranking retrieval (`--retrieval-names false`): their cost

and prints per configuration the median seconds to the whole reply and to its first
streamed words, the seconds to its first reply (the process's first reply is `before`'s:
what loading leaves undone, such as counting the common words, lands there), their ratio
to `before`'s, the median reply length in words, and how many
replies are `before`'s own, or its first sentences.
Questions that the decline rule answers without generating are left out of the timing.

    .venv/bin/python bench/bench_chat.py [-mf runs/embedded/rag_token/model] [--index DIR] [--repeats 1]

Without --index the chat's default index is used (the whole corpus for an embedded model;
built at the first chat).
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import io
import os
import platform
import statistics

import torch

QUESTIONS = [
    "What is the Great Wall of China made of?", "Who developed the theory of general relativity?",
    "How long is the Amazon River?", "What do bees make?", "Where is Mount Kilimanjaro?",
    "When did the Titanic sink?", "What is photosynthesis?", "Who wrote Pride and Prejudice?",
    "How many legs does a spider have?", "What language is spoken in Brazil?",
]


def main():
    from rag_dialogue.backends import quantize_decoder_layers
    from rag_dialogue.chat import chat_index, converse, load_agent, _model_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-mf", "--model-file", default=None)
    ap.add_argument("--index", default=None)
    ap.add_argument("--repeats", type=int, default=1, help="times each question is asked of each")
    args = ap.parse_args()
    model_file = _model_file(args.model_file)
    index = chat_index(model_file, args.index)
    configs = {"before": (2, False, True), "int8 apart": (2, "apart", True), "no number": (2, True, "no number"),
               "no fallback": (2, True, True), "int8": (2, True, True), "1 sentence": (1, True, True),
               "no rules": (2, True, False)}
    agents = {}
    for name, (sentences, int8, rules) in configs.items():
        agent, banner = load_agent(model_file, index, int8=int8 is True, max_sentences=sentences,
                                   log_file=f"{model_file}.bench_chat.log")
        if int8 == "apart":
            quantize_decoder_layers(agent.model.generator, share=False)
            agent.model.backend.quantize_output_layer()
        agent.opt["answer_asked_number"] = rules is True
        agent.opt["retrieval_names"] = agent.model.numbers_from_passages = bool(rules)
        agent.opt["chat_passage_fallback"] = name != "no fallback"
        agents[name] = agent
    print(banner.replace(", int8 decoder", ""))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores")
    times = {name: [] for name in agents}
    firsts = {name: [] for name in agents}
    replies = {name: {} for name in agents}
    for _ in range(args.repeats):
        for question in QUESTIONS:
            for name, agent in agents.items():
                agent.reset()
                (_, reply, seconds, first), = converse(agent, iter([question]), out=io.StringIO())
                replies[name][question] = reply
                if reply.startswith("I'm sorry, I don't know"):
                    continue
                times[name].append(seconds)
                firsts[name].append(first)
    base = statistics.median(times["before"]) if times["before"] else float("nan")
    print("\n| generation | median s per reply | first words s | first reply s | ratio to before | median words | "
          "replies that are before's or its first sentences |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in configs:
        if not times[name]:
            continue
        median = statistics.median(times[name])
        words = statistics.median(len(r.split()) for r in replies[name].values())
        same = sum(_is_head(replies[name][q], replies["before"][q]) for q in QUESTIONS)
        print(f"| {name} | {median:.2f} | {statistics.median(firsts[name]):.2f} | {times[name][0]:.2f} | {median / base:.2f} | "
              f"{words:g} | {same} of {len(QUESTIONS)} |")
    print(f"\nreplies ({' | '.join(configs)}):")
    for question in QUESTIONS:
        print(f"  {question}")
        for name in configs:
            print(f"    {replies[name][question]}")


def _is_head(reply: str, full: str) -> bool:
    """`reply` is `full` itself or its first sentences."""
    return full.startswith(reply.rstrip())

if __name__ == "__main__":
    main()
