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
