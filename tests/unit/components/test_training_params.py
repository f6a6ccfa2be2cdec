import pydantic
import pytest

from components.training_params import TrainingParams, default, minimum


def test_parameters_kfp_hands_back_as_strings_parse_to_their_numbers() -> None:
    params = TrainingParams.parse(
        {"source": "s", "epochs": "3.0", "embedding_dim": "16", "candidate_k": "100.0"}
    )
    assert (params.epochs, params.embedding_dim, params.candidate_k) == (3, 16, 100)
    assert params.num_shards is None


def test_arguments_leave_an_unset_shard_count_to_the_pipeline_default() -> None:
    assert "num_shards" not in TrainingParams().arguments()
    assert TrainingParams(num_shards=4).arguments()["num_shards"] == 4


def test_bounds_are_declared_once_and_enforced() -> None:
    assert (default("candidate_k"), minimum("candidate_k")) == (200, 100)
    assert minimum("source") is None
    with pytest.raises(pydantic.ValidationError, match="candidate_k"):
        TrainingParams(candidate_k=99)
    with pytest.raises(pydantic.ValidationError, match="unknown"):
        TrainingParams.parse({"unknown": 1})
