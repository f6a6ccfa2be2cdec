from components.registry import decide_promotion


def test_first_model_becomes_champion() -> None:
    decision = decide_promotion(0.1, None)
    assert decision.promoted and decision.reason == "no champion yet"


def test_promotes_only_when_the_challenger_beats_the_champion() -> None:
    assert decide_promotion(0.31, 0.30).promoted
    assert not decide_promotion(0.30, 0.30).promoted
    assert not decide_promotion(0.29, 0.30).promoted
    assert not decide_promotion(0.305, 0.30, min_improvement=0.01).promoted
