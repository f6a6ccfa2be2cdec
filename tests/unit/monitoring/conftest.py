"""Windows from the synthetic generator, shared by the monitoring tests (generated once).

The reference is four weeks of traffic; the current windows are the next four weeks of the same
shop, with the generator's drift knob off or on. Equal spans, so counts per user compare."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from components.data.synthetic import generate_synthetic
from components.settings import Settings
from monitoring.drift import Window

SHOP = {"n_users": 600, "n_items": 400, "interactions_per_user": 30, "seed": 1, "days": 28}
WINDOW_DAYS = 28.0


def _window(start: str, drift: float) -> Window:
    interactions, items = generate_synthetic(start=start, drift=drift, **SHOP)
    return Window(interactions, items, source=f"synthetic(start={start}, drift={drift})")


@pytest.fixture(scope="session")
def reference_window() -> Window:
    return _window("2026-01-01", 0.0)


@pytest.fixture(scope="session")
def calm_window() -> Window:
    return _window("2026-01-29", 0.0)


@pytest.fixture(scope="session")
def drifted_window() -> Window:
    return _window("2026-01-29", 0.8)


class RecordingRunner:
    """Stands in for pipelines.training.run_local / submit: records each call, starts nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[Settings, dict[str, Any]]] = []

    def __call__(self, settings: Settings, **arguments: Any) -> str:
        self.calls.append((settings, arguments))
        return f"run-{len(self.calls)}"


@pytest.fixture
def runner() -> RecordingRunner:
    return RecordingRunner()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def predictions(scores: list[float] | Any, ranks: int = 10) -> pd.DataFrame:
    """A prediction log: users x ranks rows with the given scores."""
    scores = list(scores)
    return pd.DataFrame(
        {
            "user_id": [i // ranks for i in range(len(scores))],
            "item_id": list(range(len(scores))),
            "score": scores,
            "rank": [i % ranks + 1 for i in range(len(scores))],
        }
    )


@pytest.fixture
def make_predictions():
    return predictions
