"""The `reco` command: every noun is mounted and documents itself."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["pipeline", "serve", "monitor", "quickstart", "data", "settings"]),
        (["quickstart"], ["--source", "--epochs", "--port", "--no-serve"]),
        (["serve"], ["--host", "--port"]),
        (["pipeline", "run"], ["--source", "--candidate-k", "--stream-logs"]),
        (["monitor", "check"], ["--current", "--reference", "--dry-run"]),
    ],
)
def test_help_lists_the_options(command: list[str], expected: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.output
