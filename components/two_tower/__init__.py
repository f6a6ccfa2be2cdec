"""TorchRec two-tower retrieval: model, KJT builders, vocabularies, training, export, top-k.

Importing this package loads nothing heavy; import the modules you need
(``model``, ``train``, ``export``, ``recommend``).
"""
