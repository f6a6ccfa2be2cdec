from pathlib import Path

from components.settings import Settings
from components.steps import collection_spec


def test_a_collection_takes_its_shards_from_the_settings_unless_the_run_gives_them(
    tmp_path: Path,
) -> None:
    settings = Settings(state_dir=tmp_path, milvus_num_shards=6, milvus_index_type="ivf_flat")
    spec = collection_spec(settings, dim=16)
    assert (spec.num_shards, spec.dim, spec.index_type) == (6, 16, "IVF_FLAT")
    assert spec.alias == settings.milvus_collection_alias
    assert collection_spec(settings, dim=16, num_shards=3).num_shards == 3
