"""Point-in-time features (pandas), their Feast definitions and store, and the ranker matrix.

Submodules are imported explicitly: ``build`` and ``ranking`` are pure pandas and stay cheap;
``definitions`` and ``store`` pull in Feast (seconds to import) only when used.
"""
