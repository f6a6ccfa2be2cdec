"""Offline evaluation: ranking metrics, baselines, one evaluator and the report files."""
