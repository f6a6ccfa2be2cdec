from pathlib import Path

import yaml

from components.settings import Settings
from serving.config import RankingOptions, RetrievalOptions, ServeArgs

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "serving" / "serve_config.yaml"
OPTIONS = {"Retrieval": RetrievalOptions, "Ranking": RankingOptions}


def test_args_default_to_the_settings_endpoints(tmp_path):
    settings = Settings(state_dir=tmp_path)
    args = ServeArgs.from_settings(settings, tables_dir=tmp_path / "t")
    assert args.mlflow_uri == settings.resolved_mlflow_uri
    assert args.milvus_uri == settings.resolved_milvus_uri
    assert args.event_log_dir == settings.event_log_dir
    assert args.prediction_log_dir == settings.prediction_log_dir
    assert args.scratch_dir == tmp_path / "serving"
    assert ServeArgs.model_validate(args.model_dump()) == args  # survives Serve's YAML args


def test_unset_fields_come_from_the_process_settings(tmp_path, monkeypatch):
    from components.settings import get_settings

    monkeypatch.setenv("RECO_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RECO_RANKER_MODEL_NAME", "other-ranker")
    get_settings.cache_clear()  # the process's settings as this environment makes them
    try:
        settings = Settings()
        args = ServeArgs.model_validate({"milvus_alias": "mine"})  # as Serve validates YAML
        assert args == ServeArgs.from_settings(settings, milvus_alias="mine")
        assert args.ranker_model == "other-ranker" and args.scratch_dir == tmp_path / "serving"
        assert ServeArgs() == ServeArgs.from_settings(settings)
    finally:
        get_settings.cache_clear()  # later tests read their own environment's settings


def test_serve_config_is_valid_and_names_the_graph_deployments():
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(CONFIG.read_text())
    ServeDeploySchema.model_validate(config)
    (app,) = config["applications"]
    assert app["import_path"] == "serving.app:build"
    assert "host" not in config.get("http_options", {})  # 0.0.0.0 in a pod
    ServeArgs.model_validate(app["args"])
    assert app["logging_config"] == {"enable_access_log": False}  # a line per call costs CPU
    names = [d["name"] for d in app["deployments"]]
    assert names == ["Ingress", "Retrieval", "Ranking"]  # Ranking re-ranks (no hop of its own)
    for deployment in app["deployments"]:
        assert deployment["ray_actor_options"]["num_cpus"] <= 0.25
        if "user_config" in deployment:
            OPTIONS[deployment["name"]].model_validate(deployment["user_config"])


def test_builder_makes_the_three_deployment_graph(tmp_path):
    from serving.app import build

    args = ServeArgs.from_settings(Settings(state_dir=tmp_path), ranking={"mmr_lambda": 0.3})
    app = build(args.model_dump())  # a plain dict, as Serve passes YAML args
    ingress = app._bound_deployment  # private, but the only way to see the graph unstarted
    assert ingress.name == "Ingress"
    bound = [a._bound_deployment for a in ingress.init_args[:2]]
    assert [d.name for d in bound] == ["Retrieval", "Ranking"]
    ranking = bound[1]._deployment_config.user_config
    assert ranking["mmr_lambda"] == 0.3 and ranking["category_cap"] == 3
    assert ingress.init_args[2] == args


def test_access_log_is_off_for_serve_locally_unless_asked_for(tmp_path):
    from serving.local import logging_config

    args = ServeArgs.from_settings(Settings(state_dir=tmp_path))
    assert logging_config(args) == {"enable_access_log": False}
    on = ServeArgs.from_settings(Settings(state_dir=tmp_path), access_log=True)
    assert logging_config(on) == {"enable_access_log": True}
