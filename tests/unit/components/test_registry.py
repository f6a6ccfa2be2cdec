import pytest

from components.registry import (
    FINGERPRINT_TAG,
    SCORE_TAG,
    champion_score,
    decide_promotion,
    gate,
    version_tags,
)
from components.training_params import TrainingParams


def test_first_model_becomes_champion() -> None:
    decision = decide_promotion(0.1, None)
    assert decision.promoted and decision.reason == "no champion yet"


def test_promotes_only_when_the_challenger_beats_the_champion() -> None:
    assert decide_promotion(0.31, 0.30).promoted
    assert not decide_promotion(0.30, 0.30).promoted
    assert not decide_promotion(0.29, 0.30).promoted
    assert not decide_promotion(0.305, 0.30, min_improvement=0.01).promoted


# --- the gate, with a fake re-evaluator ------------------------------------------------------


class Reevaluator:
    """Stands in for re-scoring the champion on this split; counts its calls."""

    def __init__(self, score: float) -> None:
        self.score, self.calls = score, 0

    def __call__(self) -> float:
        self.calls += 1
        return self.score


def test_gate_promotes_the_first_model_without_evaluating_anything() -> None:
    reevaluate = Reevaluator(0.9)
    decision = gate(0.1, None, "split-a", reevaluate)
    assert decision.promoted and decision.champion_score is None
    assert reevaluate.calls == 0


def test_gate_compares_with_the_champions_own_figure_on_the_same_split() -> None:
    champion = {FINGERPRINT_TAG: "split-a", SCORE_TAG: "0.25"}  # tags are strings
    reevaluate = Reevaluator(0.0)
    assert gate(0.30, champion, "split-a", reevaluate).promoted
    kept = gate(0.20, champion, "split-a", reevaluate)
    assert not kept.promoted and kept.champion_score == pytest.approx(0.25)
    assert reevaluate.calls == 0


def test_gate_re_evaluates_a_champion_from_another_split() -> None:
    champion = {FINGERPRINT_TAG: "split-a", SCORE_TAG: "0.10"}
    reevaluate = Reevaluator(0.40)  # on this split the champion is much better than its tag says
    decision = gate(0.30, champion, "split-b", reevaluate)
    assert reevaluate.calls == 1
    assert not decision.promoted and decision.champion_score == pytest.approx(0.40)
    assert "does not beat champion 0.4000" in decision.reason


def test_gate_re_evaluates_a_champion_without_a_figure() -> None:
    reevaluate = Reevaluator(0.05)
    decision = gate(0.30, {FINGERPRINT_TAG: "split-b"}, "split-b", reevaluate)
    assert reevaluate.calls == 1 and decision.promoted


def test_re_evaluation_reads_the_run_parameters_kfp_hands_back_as_strings() -> None:
    """KFP returns a dict parameter's numbers as strings ("100.0"): int("100.0") once crashed
    the re-evaluation; the run's parameters are parsed before the re-evaluator uses them."""
    kfp_params = {
        "source": "synthetic",
        "epochs": "2.0",
        "embedding_dim": "16.0",
        "candidate_k": "100.0",
        "num_shards": "2.0",
    }
    used: list[int] = []

    def reevaluate() -> float:
        used.append(TrainingParams.parse(kfp_params).candidate_k)
        return 0.2

    decision = gate(0.3, {FINGERPRINT_TAG: "split-a", SCORE_TAG: "0.5"}, "split-b", reevaluate)
    assert used == [100] and decision.promoted


def test_version_tags_carry_what_the_gate_reads_back() -> None:
    evaluation = {
        "results": {
            "two_tower_ranker": {"ndcg@10": 0.3, "recall@100": 0.5},
            "two_tower": {"ndcg@10": 0.2, "recall@100": 0.4},
        },
        "context": {"users_evaluated": 7},
    }
    tags = version_tags(evaluation, "split-a", "reco_items_1", "run-1")
    champion = {k: str(v) for k, v in tags.items()}
    assert champion_score(champion, "split-a", Reevaluator(0.0)) == pytest.approx(0.3)
    assert tags["milvus_collection"] == "reco_items_1" and tags["training_run_id"] == "run-1"
    assert tags["retrieval_recall_at_100"] == 0.4 and tags["users_evaluated"] == 7
