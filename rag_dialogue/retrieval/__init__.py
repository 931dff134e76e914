"""Dense retrieval: passage files, encoders, FAISS index, retriever and the `index` command.

Modules: passages (Passage, read_passages: the file readers), store (PassageFile: an
index's passages by row, write_passages), encoder (TextEncoder), query (retrieval_query,
fresh_first), index (DenseIndex), build (build_index), retriever (Retriever,
search_fresh), remote (RayRetriever), gold (the gold-passage loss), dialogues (wizard
turns with their gold knowledge), selection (knowledge selection: the query encoder's
training), cli. Import them directly; this package imports nothing so the command line
starts fast.
"""
