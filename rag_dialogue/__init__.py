"""rag-dialogue: retrieval-augmented knowledge-grounded dialogue for ParlAI.

A query encoder reads the dialogue history, a dense retriever finds passages in a
FAISS index, and a generator (seq2seq, such as BART, or a causal LM, such as the
packaged SmolLM2) answers, marginalising over the passages at every token (RAG-Token;
Lewis et al. 2020, Shuster et al. 2021).
"""

from rag_dialogue import compat as _compat

_compat.apply()

__version__ = "0.1.0"
