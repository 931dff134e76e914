"""Dense retrieval: passage store, encoders, FAISS index, retriever and the `index` command.

Modules: passages (PassageStore), encoder (TextEncoder), query (retrieval_query),
index (DenseIndex), retriever (build_index, Retriever), cli. Import them directly;
this package imports nothing so the command line starts fast.
"""
