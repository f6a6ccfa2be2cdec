"""Policy scan: Checkov over the rendered chart (default and production values), with the
exceptions of tests/chart/checkov.yaml, each explained in the chart README."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.chart

CONFIG = Path(__file__).parent / "checkov.yaml"


def test_checkov_passes_with_only_the_documented_exceptions(lib, tmp_path: Path) -> None:
    for name, values in (("default", ()), ("production", (lib.PRODUCTION_VALUES,))):
        proc = lib.helm_template(values=values)
        assert proc.returncode == 0, proc.stderr
        (tmp_path / f"{name}.yaml").write_text(proc.stdout)
    proc = lib.run(
        [lib.tool("checkov"), "--config-file", CONFIG, "-d", tmp_path, "-o", "json", "--quiet"],
        check=False,
    )
    report = json.loads(proc.stdout)
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']}"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "Checkov findings:\n" + "\n".join(failed)
    assert proc.returncode == 0, proc.stderr
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 300  # it really scanned both renders
    readme = (lib.CHART / "README.md").read_text()
    for check in lib.load_yaml(CONFIG)["skip-check"]:
        assert f"`{check}`" in readme, f"{check} is skipped but not explained in the README"
