"""Is bfloat16 autocast faster than fp32 on this CPU? What `bf16_inference: auto` decides.

Times the matrix products of one SmolLM2-135M MLP layer (576 -> 1,536 -> 576) on a
training step's worth of tokens (8 x 128), forward and backward, in fp32 and under bf16
autocast, interleaved; prints the medians, their ratio, and what
`rag_dialogue.backends.bf16_is_fast()` says about this CPU (the recipes' `auto`).

    .venv/bin/python bench/bench_bf16.py [--repeats 5]
"""

import argparse
import statistics
import time

import torch

from rag_dialogue.backends import bf16_is_fast


def step(x, w1, w2, bf16: bool) -> float:
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = torch.nn.functional.silu(x @ w1.t()) @ w2.t()
    y.float().sum().backward()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(8 * 128, 576)
    w1 = torch.randn(1536, 576, requires_grad=True)
    w2 = torch.randn(576, 1536, requires_grad=True)
    times = {False: [], True: []}
    for bf16 in (False, True):  # warm-up
        step(x, w1, w2, bf16)
    for _ in range(args.repeats):
        for bf16 in (False, True):
            times[bf16].append(step(x, w1, w2, bf16))
    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    print("| autocast | median ms (MLP forward + backward, 1,024 tokens) | ratio to fp32 |\n|---|---:|---:|")
    print(f"| fp32 | {1000 * fp32:.1f} | 1.00 |\n| bf16 | {1000 * bf16:.1f} | {bf16 / fp32:.2f} |")
    print(f"bf16_is_fast(): {bf16_is_fast()} -> `auto` runs {'bf16' if bf16_is_fast() else 'fp32'} here")


if __name__ == "__main__":
    main()
