"""A chat reply's time: the way the chat used to generate against the way it does now.

Loads the same model and index three times and asks each the same questions in turn
(question by question, so a noisy machine slows all alike), each question in a new
conversation, through `rag_dialogue.chat.converse` (what `rag-dialogue chat` runs):

  before     the recipe's `bf16_inference: true`, as the chat ran before: bfloat16 autocast
             (emulated, hence slow, on a CPU without AVX512-BF16 or AMX)
  fp32       float weights (`rag-dialogue chat`; what `bf16_inference: auto` gives on such
             a CPU)
  int8       int8 decoder weights, per output channel (`rag-dialogue chat --int8`)

and prints per configuration the median seconds to the whole reply and to its first
streamed words, their ratio to `before`'s, and how many replies equal fp32's.
Questions that the decline rule answers without generating are left out of the timing.

    .venv/bin/python bench/bench_chat.py [-mf runs/embedded/rag_token/model] [--index DIR] [--repeats 1]

Without --index the chat's default index is used (the whole corpus for an embedded model;
built at the first chat).
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import io
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
    from rag_dialogue.chat import chat_index, converse, load_agent, _model_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-mf", "--model-file", default=None)
    ap.add_argument("--index", default=None)
    ap.add_argument("--repeats", type=int, default=1, help="times each question is asked of each")
    args = ap.parse_args()
    model_file = _model_file(args.model_file)
    index = chat_index(model_file, args.index)
    agents = {}
    for name in ("before", "fp32", "int8"):
        agent, banner = load_agent(model_file, index, int8=name == "int8",
                                   log_file=f"{model_file}.bench_chat.log")
        if name == "before":
            agent.model.backend.bf16_inference = True
        agents[name] = agent
    print(banner.replace(", int8 decoder", ""))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"native bf16: {torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()}")
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
    print("\n| generation | median s per reply | first words s | ratio to before | replies equal to fp32's |")
    print("|---|---:|---:|---:|---:|")
    for name in agents:
        if not times[name]:
            continue
        median = statistics.median(times[name])
        same = sum(replies[name][q] == replies["fp32"][q] for q in QUESTIONS)
        print(f"| {name} | {median:.2f} | {statistics.median(firsts[name]):.2f} | {median / base:.2f} | "
              f"{same} of {len(QUESTIONS)} |")
    print("\nreplies (fp32 | int8):")
    for question in QUESTIONS:
        print(f"  {question}\n    {replies['fp32'][question]}\n    {replies['int8'][question]}")


if __name__ == "__main__":
    main()
