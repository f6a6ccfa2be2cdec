import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from components.evaluation.report import format_table, write_report

RESULTS = {
    "popularity": {"recall@10": 0.04, "ndcg@10": 0.09, "coverage@10": 0.01},
    "item_knn": {"recall@10": 0.06, "ndcg@10": 0.11, "coverage@10": 0.05},
    "two_tower <v1>": {"recall@10": 0.05, "ndcg@10": 0.11, "coverage@10": 0.08},
}


def test_write_report_writes_three_files(tmp_path: Path) -> None:
    paths = write_report(RESULTS, tmp_path / "out", "Offline evaluation", {"users": 610})
    assert set(paths) == {"json", "markdown", "html"}
    assert all(p.is_file() and p.parent == tmp_path / "out" for p in paths.values())

    document = json.loads(paths["json"].read_text())
    assert document["results"] == RESULTS
    assert document["context"] == {"users": 610}
    assert document["best"]["ndcg@10"] == ["item_knn", "two_tower <v1>"]

    rows = [line for line in paths["markdown"].read_text().splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(RESULTS)  # header + one row per system
    knn_row = next(r for r in rows if r.startswith("| item_knn "))
    assert "**0.0600**" in knn_row and "**0.1100**" in knn_row and "**0.0500**" not in knn_row

    page = paths["html"].read_text()
    assert "two_tower &lt;v1&gt;" in page and "<script" not in page
    svgs = page.count("<svg")
    assert svgs == 3  # one chart per metric
    for chunk in page.split("<svg")[1:]:
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")  # well-formed inline SVG


def test_format_table_marks_the_best() -> None:
    text = format_table(RESULTS)
    lines = text.splitlines()
    assert len(lines) == 2 + len(RESULTS)
    assert "0.0800*" in next(line for line in lines if line.startswith("two_tower"))


def test_empty_results_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        write_report({}, tmp_path, "x")


def test_recall_curves_follow_the_protocol() -> None:
    import pandas as pd

    from components.evaluation.report import recall_curves

    test = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 20]})
    lists = {"a": {1: [10, 10, 5, 11], 2: [7, 20]}}  # user 1: a repeat counts once
    curve = recall_curves(lists, test, depth=4)["a"]
    assert curve == pytest.approx([0.25, 0.75, 0.75, 1.0])
    assert recall_curves({"b": {}}, test, depth=2)["b"] == [0.0, 0.0]  # no list scores 0


def test_the_report_carries_the_plot_and_the_validation_figures(tmp_path: Path) -> None:
    curves = {"popularity": [0.1, 0.2, 0.3], "two_tower": [0.2, 0.3, 0.5]}
    validation = {"ranker": {"validation_ndcg_retrieval": 0.21, "validation_ndcg_ranker": 0.19}}
    paths = write_report(
        RESULTS, tmp_path, "Offline evaluation", curves=curves, validation=validation
    )
    assert paths["plot"].read_bytes().startswith(b"\x89PNG")
    page = paths["html"].read_text()
    assert 'src="data:image/png;base64,' in page  # inline: the KFP UI and MLflow show it
    assert "validation_ndcg_ranker" in page and "0.1900" in page
    document = json.loads(paths["json"].read_text())
    assert document["validation"] == validation
    assert document["recall_curves"] == curves
    assert "recall_at_k.png" in paths["markdown"].read_text()
