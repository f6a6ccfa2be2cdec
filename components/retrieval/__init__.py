"""Candidate retrieval: the Milvus item-embedding index (`components.retrieval.index`)."""
