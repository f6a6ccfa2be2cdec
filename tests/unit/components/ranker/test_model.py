from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.data.events import EventSemantics, EventTable
from components.ranker.model import (
    LEGACY_HEAD,
    Ranker,
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


def _weighted(relevant: dict[int, set[int]]) -> dict[int, dict[int, set[str]]]:
    return {u: {i: {"click"} for i in items} for u, items in relevant.items()}


def _labels(frame: pd.DataFrame, relevant: dict[int, set[int]]) -> pd.DataFrame:
    return label_candidates(frame, _weighted(relevant), ["click"])


def test_labels_mark_each_action_of_the_later_window() -> None:
    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]}, index=[5, 6, 7])
    taken = {1: {11: {"click", "purchase"}}, 2: {10: {"impression_skip"}}}
    labels = label_candidates(frame, taken, ["click", "purchase", "impression_skip"])
    assert labels.index.tolist() == [5, 6, 7]
    assert labels.to_numpy().tolist() == [[0, 0, 0], [1, 1, 0], [0, 0, 1]]


def test_ranker_learns_the_signal_and_round_trips(tmp_path: Path) -> None:
    frame = _candidates()
    relevant = _relevant(frame)
    ranker, stats = train_ranker(
        frame[FEATURES],
        _labels(frame, relevant),
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
        _labels(frame, _relevant(frame)),
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


def test_ranker_refuses_labels_without_any_action() -> None:
    frame = _candidates(n_users=3, per_user=4)
    nothing = pd.DataFrame({"click": np.zeros(len(frame))})
    with pytest.raises(ValueError, match="no action is taken"):
        train_ranker(frame[FEATURES], nothing, frame["user_id"], FEATURES)


def test_scoring_refuses_a_frame_with_missing_features(tmp_path: Path) -> None:
    frame = _candidates(n_users=10, per_user=5)
    ranker, _ = train_ranker(
        frame[FEATURES],
        _labels(frame, _relevant(frame)),
        frame["user_id"],
        FEATURES,
        num_rounds=5,
    )
    with pytest.raises(ValueError, match="noise"):
        ranker.score(frame[["signal"]])


def _shop(n_users: int = 80, per_user: int = 20, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Candidates whose actions follow two features: ``a > 0`` clicks, ``a > 1`` also buys,
    ``b > 0`` skips (an item can be bought by one user and skipped by another)."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.tile(np.arange(per_user), n_users)
    frame = pd.DataFrame(
        {"user_id": users, "item_id": items, "a": rng.normal(size=len(users))}
    ).assign(b=rng.normal(size=len(users)))
    taken: dict[int, dict[int, set[str]]] = {}
    for user, item, a, b in frame[["user_id", "item_id", "a", "b"]].itertuples(index=False):
        actions = {"click"} if a > 0 else set()
        actions |= {"purchase"} if a > 1 else set()
        actions |= {"impression_skip"} if b > 0 else set()
        if actions:
            taken.setdefault(int(user), {})[int(item)] = actions
    return frame, taken


SHOP_ACTIONS = ["click", "purchase", "impression_skip", "add_to_cart"]
# x: bought and skipped alike; y: clicked, never bought, never skipped
X_AND_Y = pd.DataFrame({"a": [2.5, 0.6], "b": [2.5, -2.5]})


def _shop_ranker() -> Ranker:
    frame, taken = _shop()
    ranker, stats = train_ranker(
        frame[["a", "b"]],
        label_candidates(frame, taken, SHOP_ACTIONS),
        frame["user_id"],
        ["a", "b"],
        num_rounds=40,
    )
    # add_to_cart is never taken: no head for it; one head per action present in the labels
    assert ranker.actions == ["click", "purchase", "impression_skip"]
    assert stats["heads"] == 3 and stats["head_purchase_positives"] > 0
    return ranker


def test_one_head_per_action_combined_by_the_event_table() -> None:
    ranker = _shop_ranker()
    assert ranker.weights == {"click": 1.0, "purchase": 5.0, "impression_skip": -1.0}
    p = ranker.probabilities(X_AND_Y)
    assert p.shape == (2, 3)
    assert p[0, 1] > 0.8 and p[1, 1] < 0.2  # x bought, y not
    assert p[0, 2] > 0.8 and p[1, 2] < 0.2  # x skipped, y not
    scores, dominant = ranker.explain(X_AND_Y)
    np.testing.assert_allclose(scores, p @ np.array([1.0, 5.0, -1.0]))
    np.testing.assert_allclose(ranker.score(X_AND_Y), scores)
    assert scores[0] > scores[1]  # a likely purchase outweighs a likely skip at weight -1
    assert dominant == ["purchase", "click"]


def test_changing_the_weights_changes_the_order_without_retraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranker = _shop_ranker()
    skips_cost = EventTable(
        {"impression_skip": EventSemantics(positive=False, negative_weight=10.0)}
    )
    heavy = ranker.with_table(skips_cost)
    assert heavy.heads is ranker.heads  # the same models
    assert heavy.weights["impression_skip"] == -10.0
    x, y = heavy.score(X_AND_Y)
    assert x < y  # now the sure skip costs more than the purchase brings
    # The live setting: a process that loads the same saved ranker under another
    # RECO_EVENT_TYPES serves the other order.
    save_ranker(ranker, tmp_path / "r")
    assert np.argmax(load_ranker(tmp_path / "r").score(X_AND_Y)) == 0
    monkeypatch.setenv("RECO_EVENT_TYPES", str(skips_cost))
    assert np.argmax(load_ranker(tmp_path / "r").score(X_AND_Y)) == 1
    cheap = EventTable({"purchase": EventSemantics(weight=0.5)})
    assert load_ranker(tmp_path / "r", cheap).weights["purchase"] == 0.5


def test_a_head_the_table_no_longer_names_weighs_zero() -> None:
    ranker = _shop_ranker()
    renamed = {"click": ranker.heads["click"], "rating_ge9": ranker.heads["purchase"]}
    moved = Ranker(renamed, ["a", "b"]).with_table(None)
    assert moved.weights == {"click": 1.0, "rating_ge9": 0.0}
    np.testing.assert_allclose(moved.score(X_AND_Y), moved.probabilities(X_AND_Y)[:, 0])


def test_a_ranker_saved_before_heads_loads_as_one_head(tmp_path: Path) -> None:
    import json

    import xgboost as xgb

    frame = _candidates(n_users=10, per_user=5)
    matrix = xgb.DMatrix(frame[FEATURES].to_numpy(np.float32), label=frame["signal"] > 0)
    matrix.set_group([5] * 10)
    booster = xgb.train({"objective": "rank:ndcg"}, matrix, num_boost_round=3)
    (tmp_path / "old").mkdir()
    booster.save_model(tmp_path / "old" / "ranker.ubj")
    (tmp_path / "old" / "features.json").write_text(json.dumps(FEATURES))
    old = load_ranker(tmp_path / "old")
    assert old.actions == [LEGACY_HEAD] and old.weights == {LEGACY_HEAD: 1.0}
    expected = booster.predict(xgb.DMatrix(frame[FEATURES].to_numpy(np.float32)))
    np.testing.assert_allclose(old.score(frame[FEATURES]), expected, rtol=1e-6)


def _rare(n_users: int = 200, per_user: int = 50, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Clicks with P = sigmoid(2a - 3) (about 8% of rows): a rare action, as in the pipeline."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(n_users), per_user),
            "item_id": np.tile(np.arange(per_user), n_users),
            "a": rng.normal(size=n_users * per_user),
            "b": rng.normal(size=n_users * per_user),
        }
    )
    clicked = rng.random(len(frame)) < 1 / (1 + np.exp(-(2 * frame["a"] - 3)))
    taken: dict[int, dict[int, set[str]]] = {}
    for user, item in frame.loc[clicked, ["user_id", "item_id"]].itertuples(index=False):
        taken.setdefault(int(user), {})[int(item)] = {"click"}
    return frame, taken


def test_negative_downsampling_keeps_every_positive_and_the_heads_calibrated() -> None:
    frame, taken = _rare()
    labels = label_candidates(frame, taken, ["click"])
    args = (frame[["a", "b"]], labels, frame["user_id"], ["a", "b"])
    full, full_stats = train_ranker(*args, num_rounds=60)
    sampled, stats = train_ranker(*args, num_rounds=60, negative_share=0.2)
    positives = int(labels["click"].sum())
    # positives all kept, about a fifth of the negatives: far fewer rows to train on
    assert stats["head_click_positives"] == full_stats["head_click_positives"]
    assert stats["train_rows"] < 0.35 * full_stats["train_rows"]
    assert stats["train_rows"] > full_stats["head_click_positives"]
    # weighted back, the probabilities keep the click rate (unweighted they would triple it)
    fresh, _ = _rare(seed=1)
    rate = positives / len(frame)
    p_full = full.probabilities(fresh[["a", "b"]])[:, 0]
    p_sampled = sampled.probabilities(fresh[["a", "b"]])[:, 0]
    assert abs(p_sampled.mean() - rate) < 0.2 * rate
    assert abs(p_sampled.mean() - p_full.mean()) < 0.2 * rate
    assert np.corrcoef(p_sampled, p_full)[0, 1] > 0.95
    # the same seed draws the same rows
    again, _ = train_ranker(*args, num_rounds=60, negative_share=0.2)
    np.testing.assert_array_equal(again.score(fresh[["a", "b"]]), sampled.score(fresh[["a", "b"]]))
    with pytest.raises(ValueError, match="negative_share"):
        train_ranker(*args, negative_share=0.0)
