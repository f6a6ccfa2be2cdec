"""The pipeline console: one line per step, bars and errors shown; everything logged."""

from __future__ import annotations

import io
import sys

from cli.progress import pipeline_console

RUNNER_OUTPUT = """\
05:07:57.252 - INFO - Executing task \x1b[96m'ingest-op'\x1b[0m
05:07:57.253 - INFO - Streamed logs:
    [KFP Executor 2026-11-30 05:07:57,300 INFO]: Got executor_input:
    {
        "inputs": {"parameterValues": {"source": "synthetic"}}
    }
    [KFP Executor 2026-11-30 05:08:14,057 INFO]: Registry cache expired, so refreshing
    epochs:  50%|#####     | 1/2 [00:01<00:01]\repochs: 100%|##########| 2/2 [00:02<00:00]
    epochs: 100%|##########| 2/2 [00:02<00:00]
    Downloading artifacts: 100%|##########| 4/4 [00:00<00:00]
05:07:58.565 - INFO - Task \x1b[96m'ingest-op'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
05:07:58.567 - INFO - Executing task 'split-op'
    Traceback (most recent call last):
    ValueError: interactions.parquet row 3: unknown event type 'like'
05:07:59.389 - ERROR - Task 'split-op' finished with status FAILURE
"""


def test_only_steps_bars_and_errors_reach_the_terminal(tmp_path) -> None:
    terminal = io.StringIO()
    log = tmp_path / "run.log"
    with pipeline_console(log, terminal) as console:
        sys.stdout.write(RUNNER_OUTPUT[:100])  # lines arrive in pieces
        print(RUNNER_OUTPUT[100:], end="")
    shown = terminal.getvalue().splitlines()
    assert shown[0] == "▶ ingest-op"
    assert shown[1] == "    epochs: 100%|##########| 2/2 [00:02<00:00]"
    assert shown[2].startswith("  ✓ ingest-op success in ")
    assert shown[3] == "▶ split-op"
    assert "unknown event type 'like'" in terminal.getvalue()
    assert shown[-1].startswith("  ✗ split-op failure in ")
    assert "executor_input" not in terminal.getvalue()
    assert "Registry cache expired" not in terminal.getvalue()
    assert console.failed_steps == ["split-op"]
    # The full log keeps everything. Compared piece by piece: stdout is process-wide, and a
    # thread left by another test may write between the two pieces.
    logged = log.read_bytes().decode()
    assert RUNNER_OUTPUT[:100] in logged and RUNNER_OUTPUT[100:] in logged
