from pathlib import Path

from components.settings import Settings


def test_defaults_are_embedded_under_one_state_folder(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path)
    assert s.resolved_mlflow_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert s.resolved_milvus_uri == str(tmp_path / "milvus.db")
    assert s.resolved_feast_repo == tmp_path / "feast"
    assert s.resolved_data_dir == tmp_path / "data"
    assert s.kfp_host is None and s.ray_address is None


def test_environment_moves_endpoints_to_a_cluster(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECO_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RECO_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("RECO_MILVUS_URI", "http://milvus:19530")
    monkeypatch.setenv("RECO_KFP_HOST", "http://ml-pipeline:8888")
    monkeypatch.setenv("RECO_MILVUS_NUM_SHARDS", "4")
    s = Settings()
    assert s.resolved_mlflow_uri == "http://mlflow:5000"
    assert s.resolved_milvus_uri == "http://milvus:19530"
    assert s.kfp_host == "http://ml-pipeline:8888"
    assert s.milvus_num_shards == 4


def test_invalid_values_are_rejected(monkeypatch) -> None:
    import pydantic
    import pytest

    monkeypatch.setenv("RECO_MILVUS_NUM_SHARDS", "0")
    with pytest.raises(pydantic.ValidationError, match="milvus_num_shards"):
        Settings()
