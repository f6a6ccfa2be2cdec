from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.ranker.model import (
    label_candidates,
    load_ranker,
    rank_candidates,
    save_ranker,
    top_scored,
    train_ranker,
)

FEATURES = ["signal", "noise"]


def _candidates(n_users: int = 60, per_user: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        for item in range(per_user):
            rows.append(
                {"user_id": user, "item_id": item, "signal": rng.normal(), "noise": rng.normal()}
            )
    return pd.DataFrame(rows)


def _relevant(frame: pd.DataFrame) -> dict[int, set[int]]:
    # an item is relevant when its "signal" is in the user's top 3: the ranker must learn that
    top = frame.sort_values("signal", ascending=False).groupby("user_id").head(3)
    return {int(u): set(g["item_id"]) for u, g in top.groupby("user_id")}


def _weighted(relevant: dict[int, set[int]]) -> dict[int, dict[int, float]]:
    return {u: dict.fromkeys(items, 1.0) for u, items in relevant.items()}


def test_labels_mark_items_of_the_later_window() -> None:
    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]})
    labels = label_candidates(frame, {1: {11: 1.0}, 2: {10: 1.0}})
    assert labels.tolist() == [0.0, 2.0, 2.0]


def test_graded_labels_order_purchase_over_click_over_view() -> None:
    from components.data.events import DEFAULT_EVENT_TYPES as T

    frame = pd.DataFrame({"user_id": [1, 1, 1, 1], "item_id": [1, 2, 3, 4]})
    weights = {1: {1: T["purchase"].weight, 2: T["click"].weight, 3: T["view"].weight}}
    purchase, click, view, nothing = label_candidates(frame, weights).tolist()
    assert purchase > click > view > nothing == 0.0


def test_ranker_learns_the_signal_and_round_trips(tmp_path: Path) -> None:
    frame = _candidates()
    relevant = _relevant(frame)
    ranker, stats = train_ranker(
        frame[FEATURES],
        label_candidates(frame, _weighted(relevant)),
        frame["user_id"],
        FEATURES,
        num_rounds=30,
    )
    assert stats["trees"] >= 1
    test = _candidates(seed=1)
    top = rank_candidates(ranker, test, test[FEATURES], k=3)
    truth = _relevant(test)
    hits = np.mean([len(set(top[u]) & truth[u]) / 3 for u in truth])
    assert hits > 0.8
    save_ranker(ranker, tmp_path / "r")
    again = load_ranker(tmp_path / "r")
    np.testing.assert_allclose(again.score(test[FEATURES]), ranker.score(test[FEATURES]))
    assert again.enabled
    # the validation verdict travels with the saved ranker (what serving reads)
    ranker.enabled, ranker.validation = False, {"validation_ndcg_ranker": 0.1}
    save_ranker(ranker, tmp_path / "off")
    off = load_ranker(tmp_path / "off")
    assert not off.enabled and off.validation == {"validation_ndcg_ranker": 0.1}


def test_top_scored_ranks_each_users_candidates_by_score() -> None:
    frame = _candidates(n_users=8, per_user=6)
    ranker, _ = train_ranker(
        frame[FEATURES],
        label_candidates(frame, _weighted(_relevant(frame))),
        frame["user_id"],
        FEATURES,
    )
    top = top_scored(ranker, frame, frame[FEATURES], k=4)
    assert list(top.columns) == ["user_id", "item_id", "score", "rank"]
    assert top.groupby("user_id").size().eq(4).all()
    for _, group in top.groupby("user_id"):
        assert group["rank"].tolist() == [1, 2, 3, 4]
        assert group["score"].is_monotonic_decreasing
    ranked = rank_candidates(ranker, frame, frame[FEATURES], k=4)
    assert ranked == {int(u): g["item_id"].tolist() for u, g in top.groupby("user_id")}


def test_ranker_refuses_labels_without_any_positive() -> None:
    frame = _candidates(n_users=3, per_user=4)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        train_ranker(frame[FEATURES], pd.Series(np.zeros(len(frame))), frame["user_id"], FEATURES)


def test_scoring_refuses_a_frame_with_missing_features(tmp_path: Path) -> None:
    frame = _candidates(n_users=10, per_user=5)
    ranker, _ = train_ranker(
        frame[FEATURES],
        label_candidates(frame, _weighted(_relevant(frame))),
        frame["user_id"],
        FEATURES,
        num_rounds=5,
    )
    with pytest.raises(ValueError, match="noise"):
        ranker.score(frame[["signal"]])
