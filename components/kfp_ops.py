"""Thin Kubeflow Pipelines wrappers: each body imports one plain step and maps artefacts to paths.

The project image already holds this package and its pinned dependencies, so the bodies import
from `components` and no packages are installed at run time (`install_kfp_package=False`).
The KFP local runner (subprocess, no venv) runs the very same bodies in the current interpreter.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from components.settings import get_settings

IMAGE = get_settings().pipeline_image
component = dsl.component(base_image=IMAGE, install_kfp_package=False)


@component
def ingest_op(source: str, interactions: Output[Dataset], items: Output[Dataset]) -> None:
    """Load and validate the source; a broken file stops the run here with the reason."""
    from components.steps import ingest

    summary = ingest(source, interactions.path, items.path)
    interactions.metadata.update(summary)


@component
def split_op(
    interactions: Input[Dataset],
    train: Output[Dataset],
    test: Output[Dataset],
    fit: Output[Dataset],
    label: Output[Dataset],
) -> None:
    """Protocol split (per-user, by time), then the same rule again inside train for the ranker."""
    from components.steps import split

    train.metadata.update(split(interactions.path, train.path, test.path, fit.path, label.path))


@component
def features_op(
    interactions: Input[Dataset], items: Input[Dataset], feature_tables: Output[Dataset]
) -> None:
    """Build point-in-time feature snapshots, apply them to Feast and materialise online."""
    from components.steps import build_features

    feature_tables.metadata.update(
        build_features(interactions.path, items.path, feature_tables.path)
    )


@component
def train_two_tower_op(
    train: Input[Dataset],
    fit: Input[Dataset],
    label: Input[Dataset],
    items: Input[Dataset],
    epochs: int,
    embedding_dim: int,
    seed: int,
    history_decay: float,
    model: Output[Model],
    metrics: Output[Metrics],
) -> None:
    """Choose the epoch count on validation (learn on ``fit``, judge on ``label``), then train the
    TorchRec two-tower on the whole ``train`` window."""
    from components.steps import train_retrieval

    for name, value in train_retrieval(
        train.path,
        fit.path,
        label.path,
        items.path,
        model.path,
        epochs=epochs,
        embedding_dim=embedding_dim,
        seed=seed,
        history_decay=history_decay,
    ).items():
        metrics.log_metric(name, value)


@component
def train_ranker_op(
    two_tower: Input[Model],
    fit: Input[Dataset],
    label: Input[Dataset],
    items: Input[Dataset],
    feature_tables: Input[Dataset],
    candidate_k: int,
    seed: int,
    ranker: Output[Model],
    metrics: Output[Metrics],
) -> None:
    """Train the XGBoost ranker on two-tower candidates labelled by the later window
    (``feature_tables``: only orders it after the features step, whose store it reads)."""
    from components.steps import train_ranking

    for name, value in train_ranking(
        two_tower.path,
        fit.path,
        label.path,
        items.path,
        ranker.path,
        candidate_k=candidate_k,
        seed=seed,
    ).items():
        metrics.log_metric(name, value)


@component
def evaluate_op(
    two_tower: Input[Model],
    ranker: Input[Model],
    train: Input[Dataset],
    test: Input[Dataset],
    items: Input[Dataset],
    feature_tables: Input[Dataset],
    candidate_k: int,
    seed: int,
    evaluation: Output[Dataset],
    metrics: Output[Metrics],
    report_html: Output[HTML],
    report_md: Output[Markdown],
    predictions: Output[Dataset],
) -> None:
    """Evaluate baselines, two-tower and two-tower + ranker on one split; write the report."""
    from components.steps import evaluate

    results = evaluate(
        two_tower.path,
        ranker.path,
        train.path,
        test.path,
        items.path,
        evaluation.path,
        report_html.path,
        report_md.path,
        predictions.path,
        candidate_k=candidate_k,
        seed=seed,
    )
    for system, values in results.items():
        for name, value in values.items():
            metrics.log_metric(f"{system}.{name}".replace("@", "_at_"), value)


@component
def index_op(
    two_tower: Input[Model], items: Input[Dataset], num_shards: int, index: Output[Dataset]
) -> NamedTuple("IndexOutputs", [("collection", str)]):
    """Write every available item's embedding into a new Milvus collection (not yet aliased)."""
    from collections import namedtuple

    from components.steps import index_items

    info = index_items(two_tower.path, items.path, index.path, num_shards=num_shards)
    index.metadata.update(info)
    return namedtuple("IndexOutputs", ["collection"])(info["collection"])


@component
def register_op(
    two_tower: Input[Model],
    ranker: Input[Model],
    evaluation: Input[Dataset],
    train: Input[Dataset],
    test: Input[Dataset],
    items: Input[Dataset],
    predictions: Input[Dataset],
    report_html: Input[HTML],
    report_md: Input[Markdown],
    collection: str,
    params: dict,
    decision: Output[Dataset],
) -> NamedTuple("GateOutputs", [("promoted", bool)]):
    """Register both models as challenger; promote them and the Milvus alias if the gate passes."""
    from collections import namedtuple

    from components.steps import GateInputs, register_and_gate

    inputs = GateInputs(
        two_tower.path,
        ranker.path,
        evaluation.path,
        train.path,
        test.path,
        items.path,
        predictions.path,
        {"html": report_html.path, "md": report_md.path},
    )
    result = register_and_gate(inputs, collection, params, decision.path)
    decision.metadata.update({"promoted": result["promoted"], "reason": result["reason"]})
    return namedtuple("GateOutputs", ["promoted"])(bool(result["promoted"]))
