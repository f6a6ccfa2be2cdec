"""Terminal output of a KFP local run: one line per step and the progress bars, not the runner's
wall of executor JSON and third-party INFO lines. Everything still goes to a log file."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXECUTING = re.compile(r"Executing task '([^']+)'")
_FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
_TRACEBACK = "Traceback (most recent call last)"
_QUIET_BARS = ("Downloading artifacts", "Uploading artifacts")  # MLflow's, per file
_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b|Error:")


class PipelineConsole(io.TextIOBase):
    """A stdout that writes everything to ``log`` and shows ``out`` the lines a person needs."""

    def __init__(self, log: TextIO, out: TextIO) -> None:
        self._log, self._out = log, out
        self._buffer = ""
        self._started: dict[str, float] = {}
        self._in_traceback = False
        self._last_bar = ""
        self.failed_steps: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._log.write(text)
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._show(line)
        return len(text)

    def flush(self) -> None:
        self._log.flush()
        self._out.flush()

    def _show(self, line: str) -> None:
        plain = _ANSI.sub("", line).rstrip()
        if match := _EXECUTING.search(plain):
            self._started[match.group(1)] = time.monotonic()
            self._in_traceback = False
            self._out.write(f"▶ {match.group(1)}\n")
        elif match := _FINISHED.search(plain):
            name, status = match.groups()
            self._in_traceback = False
            seconds = time.monotonic() - self._started.get(name, time.monotonic())
            if status != "SUCCESS":
                self.failed_steps.append(name)
            mark = "✓" if status == "SUCCESS" else "✗"
            self._out.write(f"  {mark} {name} {status.lower()} in {seconds:.1f} s\n")
        elif "%|" in plain:
            self._bar(plain.split("\r")[-1].strip())
        elif _TRACEBACK in plain or self._in_traceback:
            self._in_traceback = True
            self._out.write(f"{line}\n")
        elif _ERROR.search(plain):
            self._out.write(f"{line}\n")
        else:
            return
        self._out.flush()

    def _bar(self, state: str) -> None:
        """A tqdm update: redrawn in place on a terminal; elsewhere only its final state once."""
        label = state.split(":", 1)[0]
        if label.startswith(_QUIET_BARS):
            return
        done = "100%" in state
        if done and label == self._last_bar:
            return  # tqdm draws the finished bar again when it closes
        self._last_bar = label if done else ""
        if self._out.isatty():
            self._out.write(f"\r\x1b[K    {state}" + ("\n" if done else ""))
        elif done:
            self._out.write(f"    {state}\n")


@contextlib.contextmanager
def pipeline_console(log_path: Path, out: TextIO | None = None) -> Iterator[PipelineConsole]:
    """Route stdout (the KFP local runner prints there) through a ``PipelineConsole``."""
    out = out or sys.stdout
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        console = PipelineConsole(log, out)
        try:
            with contextlib.redirect_stdout(console):
                yield console
        finally:
            console.flush()
