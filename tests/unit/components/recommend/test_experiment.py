import pytest
from pydantic import ValidationError

from components.recommend.experiment import Experiment, Variant, assign_variant, unit_hash


def test_assignment_is_deterministic_and_follows_the_weights():
    experiment = Experiment(
        name="t", variants=(Variant(name="a", weight=3.0), Variant(name="b", weight=1.0))
    )
    names = [assign_variant(experiment, user).name for user in range(1, 8001)]
    assert names == [assign_variant(experiment, user).name for user in range(1, 8001)]
    assert 0.72 < names.count("a") / len(names) < 0.78


def test_adding_a_variant_only_moves_users_into_it():
    two = Experiment(name="t", variants=(Variant(name="a"), Variant(name="b")))
    three = Experiment(name="t", variants=(*two.variants, Variant(name="c")))
    for user in range(1, 3001):
        before, after = assign_variant(two, user).name, assign_variant(three, user).name
        assert after in (before, "c")


def test_experiment_names_salt_the_hash_and_variants_must_be_unique():
    assert unit_hash("x", 1) != unit_hash("y", 1)
    assert 0 < unit_hash("x", 1) < 1
    with pytest.raises(ValidationError):
        Experiment(variants=(Variant(name="a"), Variant(name="a")))
    with pytest.raises(ValidationError):
        Variant(name="a", mmr_lambda=1.5)


def test_model_aliases_list_champion_first():
    experiment = Experiment(
        variants=(Variant(name="new", model_alias="challenger"), Variant(name="old"))
    )
    assert experiment.model_aliases == ("champion", "challenger")
