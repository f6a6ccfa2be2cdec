"""Evaluation results as files people and machines read: JSON, a Markdown table, an HTML page.

The HTML page is self-contained (table, one inline-SVG bar chart per metric and the Recall@K plot
as an inline PNG; no scripts, no external assets), so the KFP UI's HTML viewer, MLflow's artefact
view and a browser from a file all show it as is. The plot is also written as ``recall_at_k.png``.
Higher is better for every metric reported here, so the best value per column is the maximum.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, USER_ID

Results = Mapping[str, Mapping[str, float]]

JSON_FILE = "evaluation.json"
MARKDOWN_FILE = "evaluation.md"
HTML_FILE = "evaluation.html"
PLOT_FILE = "recall_at_k.png"

_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1")


def recall_curves(
    lists: Mapping[str, Mapping[int, Sequence[int]]], test: pd.DataFrame, depth: int
) -> dict[str, list[float]]:
    """System -> Recall@K for K = 1..depth, under the protocol's rules (``metrics.recall_at_k``:
    users with test items, a missing list scores 0, an item repeated counts once)."""
    relevant = test.groupby(USER_ID)[ITEM_ID].agg(lambda items: set(items.tolist())).to_dict()
    curves: dict[str, list[float]] = {}
    for system, found in lists.items():
        total = np.zeros(depth)
        for user, items in relevant.items():
            hits = np.zeros(depth)
            seen: set[int] = set()
            for position, item in enumerate(list(found.get(user, ()))[:depth]):
                if item in items and item not in seen:
                    hits[position] = 1.0
                seen.add(item)
            total += np.cumsum(hits) / len(items)
        curves[system] = (total / max(len(relevant), 1)).tolist()
    return curves


def recall_plot(curves: Mapping[str, Sequence[float]]) -> bytes:
    """The Recall@K curves as a PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    for i, (system, curve) in enumerate(curves.items()):
        axes.plot(range(1, len(curve) + 1), curve, label=system, color=_PALETTE[i % len(_PALETTE)])
    axes.set_xlabel("K")
    axes.set_ylabel("Recall@K")
    axes.set_title("Recall@K on the test split")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def metric_columns(results: Results) -> list[str]:
    """Metric names in first-seen order across systems (the table's columns)."""
    columns: dict[str, None] = {}
    for metrics in results.values():
        columns.update(dict.fromkeys(metrics))
    return list(columns)


def best_systems(results: Results) -> dict[str, set[str]]:
    """Metric -> the systems holding its maximum (ties share it; NaN never wins)."""
    best: dict[str, set[str]] = {}
    for column in metric_columns(results):
        values = {
            system: float(metrics[column])
            for system, metrics in results.items()
            if column in metrics and not math.isnan(float(metrics[column]))
        }
        if values:
            top = max(values.values())
            best[column] = {system for system, value in values.items() if value == top}
    return best


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return "nan" if math.isnan(value) else f"{value:.4f}"


def format_table(results: Results) -> str:
    """A fixed-width text table (systems x metrics) for a terminal; ``*`` marks the best."""
    columns = metric_columns(results)
    best = best_systems(results)
    header = ["system", *columns]
    rows = [
        [
            system,
            *(_fmt(metrics.get(c)) + ("*" if system in best.get(c, ()) else " ") for c in columns),
        ]
        for system, metrics in results.items()
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def markdown_table(results: Results) -> str:
    """A Markdown table, one row per system, the best value per column in bold."""
    columns = metric_columns(results)
    best = best_systems(results)
    lines = [
        "| system | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for system, metrics in results.items():
        cells = []
        for column in columns:
            text = _fmt(metrics.get(column))
            cells.append(f"**{text}**" if system in best.get(column, ()) else text)
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _markdown(
    results: Results,
    title: str,
    context: Mapping[str, Any],
    validation: Results,
    plot: bool,
) -> str:
    parts = [f"# {title}", ""]
    if context:
        parts += [f"- **{key}**: {value}" for key, value in context.items()] + [""]
    parts += [markdown_table(results), "", "Best value per column in bold (higher is better).", ""]
    if validation:
        parts += ["## Validation (inside the training window)", "", markdown_table(validation), ""]
    if plot:
        parts += [f"![Recall@K]({PLOT_FILE})", ""]
    return "\n".join(parts)


def _bar_chart(metric: str, results: Results, best: set[str]) -> str:
    """One horizontal-bar SVG for one metric, systems as bars, scaled to the metric's maximum."""
    values = [(system, metrics.get(metric)) for system, metrics in results.items()]
    finite = [v for _, v in values if v is not None and not math.isnan(v)]
    top = max(finite, default=0.0) or 1.0
    label_w, bar_w, row_h, pad = 110, 200, 22, 24
    height = pad + row_h * len(values) + 6
    width = label_w + bar_w + 70
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(metric)}">',
        f'<text x="0" y="15" font-weight="bold">{html.escape(metric)}</text>',
    ]
    for i, (system, value) in enumerate(values):
        y = pad + i * row_h
        length = 0.0 if value is None or math.isnan(value) else max(value, 0.0) / top * bar_w
        colour = _PALETTE[i % len(_PALETTE)]
        weight = ' font-weight="bold"' if system in best else ""
        out += [
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{html.escape(system)}</text>',
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" '
            f'fill="{colour}"/>',
            f'<text x="{label_w + length + 4:.1f}" y="{y + 14}"{weight}>{_fmt(value)}</text>',
        ]
    out.append("</svg>")
    return "".join(out)


def _html(
    results: Results,
    title: str,
    context: Mapping[str, Any],
    validation: Results,
    png: bytes | None,
) -> str:
    columns = metric_columns(results)
    best = best_systems(results)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for system, metrics in results.items():
        cells = []
        for column in columns:
            text = html.escape(_fmt(metrics.get(column)))
            cells.append(
                f"<td><b>{text}</b></td>" if system in best.get(column, ()) else f"<td>{text}</td>"
            )
        body.append(f"<tr><th>{html.escape(system)}</th>{''.join(cells)}</tr>")
    facts = "".join(
        f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in context.items()
    )
    charts = "".join(
        f'<div class="chart">{_bar_chart(c, results, best.get(c, set()))}</div>' for c in columns
    )
    extra = ""
    if validation:
        rows = "".join(
            f"<tr><th>{html.escape(system)}</th><td>{html.escape(name)}</td>"
            f"<td>{html.escape(_fmt(value))}</td></tr>"
            for system, metrics in validation.items()
            for name, value in metrics.items()
        )
        extra += (
            "<h2>Validation (inside the training window)</h2><table><thead><tr><th>model</th>"
            f"<th>figure</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if png is not None:
        encoded = base64.b64encode(png).decode("ascii")
        extra += f'<h2>Recall@K</h2><img alt="Recall@K" src="data:image/png;base64,{encoded}">'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
tr th:first-child {{ text-align: left; }}
thead th {{ background: #f3f3f3; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.chart svg {{ font-size: 12px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<ul>{facts}</ul>
<table><thead><tr><th>system</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<p>Best value per column in bold (higher is better).</p>
<div class="charts">{charts}</div>
{extra}
</body></html>
"""


def write_report(
    results: Mapping[str, Mapping[str, float]],
    directory: Path,
    title: str,
    context: Mapping[str, Any] | None = None,
    *,
    curves: Mapping[str, Sequence[float]] | None = None,
    validation: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Path]:
    """Write evaluation.json, evaluation.md and evaluation.html into ``directory``.

    ``context`` (split, dataset, run id, timings...) is shown above the table and stored in the
    JSON; ``validation`` (model -> figures measured inside the training window) beside the test
    table; ``curves`` (system -> Recall@1..K) as ``recall_at_k.png``, inlined in the HTML.
    Returns {"json": ..., "markdown": ..., "html": ...} paths, and "plot" when there is one.
    """
    if not results:
        raise ValueError("write_report: results is empty")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    context = dict(context or {})
    document = {
        "title": title,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "context": context,
        "results": {system: dict(metrics) for system, metrics in results.items()},
        "best": {metric: sorted(systems) for metric, systems in best_systems(results).items()},
        "validation": {model: dict(figures) for model, figures in (validation or {}).items()},
        "recall_curves": {system: list(curve) for system, curve in (curves or {}).items()},
    }
    paths = {
        "json": directory / JSON_FILE,
        "markdown": directory / MARKDOWN_FILE,
        "html": directory / HTML_FILE,
    }
    paths["json"].write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    png = recall_plot(curves) if curves else None
    if png is not None:
        paths["plot"] = directory / PLOT_FILE
        paths["plot"].write_bytes(png)
    validation = dict(validation or {})
    paths["markdown"].write_text(
        _markdown(results, title, context, validation, png is not None), encoding="utf-8"
    )
    paths["html"].write_text(_html(results, title, context, validation, png), encoding="utf-8")
    return paths
