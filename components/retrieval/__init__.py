"""Candidate retrieval over the Milvus item-embedding index, one module per job:

- ``client``: the URI decides Milvus Lite or a server; release, load on demand
- ``schema``: the collection's fields and how a catalog cell fills them
- ``filters``: the filter expressions a search may use (quoted values)
- ``build``: one collection per training run, then the alias swap
- ``info``: what a collection records about itself, where an alias points
- ``search``: top-k per query vector, many queries per call
- ``cleanup``: dropping old run collections an alias does not point at
- ``reader``: search access for a long-running server process (a private Lite copy)
"""
