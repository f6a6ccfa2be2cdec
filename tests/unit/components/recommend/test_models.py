"""The model holder both serving runtimes use, with a fake registry: no MLflow, no Ray."""

from pathlib import Path

import pytest

from components.recommend.models import NO_CHAMPION, AliasModels, ModelLoader
from components.registry import ModelRef

NAME = "tower"


class FakeRegistry:
    """Aliases -> versions the test moves; ``download`` writes a marker file like a model."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = dict(aliases)
        self.down = False
        self.downloads: list[str] = []

    def resolve(self, name: str, aliases: tuple[str, ...]) -> dict[str, ModelRef]:
        if self.down:
            raise ConnectionError("registry unreachable")
        return {
            alias: ModelRef(name, alias, self.aliases[alias])
            for alias in aliases
            if alias in self.aliases
        }

    def download(self, ref: ModelRef, destination: Path) -> Path:
        self.downloads.append(ref.version)
        destination.mkdir(parents=True)
        (destination / "version").write_text(ref.version)
        return destination


def loader_for(registry: FakeRegistry, scratch: Path) -> ModelLoader:
    return ModelLoader(
        NAME,
        ("champion", "challenger"),
        registry,
        load=lambda folder: {"version": (folder / "version").read_text()},
        scratch=scratch,
    )


def test_loads_every_alias_once_per_version_and_picks_the_champion_for_unknown_aliases(tmp_path):
    registry = FakeRegistry({"champion": "3", "challenger": "3"})
    models = AliasModels.load(loader_for(registry, tmp_path))
    assert models.problem is None and registry.downloads == ["3"]
    assert models.models["champion"].model is models.models["challenger"].model
    assert models.pick("challenger").ref.alias == "challenger"
    assert models.pick("no-such-alias") is models.champion
    assert models.describe()["champion"]["version"] == "3"
    assert set(models.describe()["champion"]) == {"name", "version", "loaded_at"}


def test_refresh_downloads_only_the_moved_alias_and_keeps_the_loaded_one(tmp_path):
    registry = FakeRegistry({"champion": "1", "challenger": "2"})
    first = AliasModels.load(loader_for(registry, tmp_path))
    assert not first.is_stale()
    registry.aliases["challenger"] = "4"
    assert first.is_stale()
    second = first.refresh()
    assert registry.downloads == ["1", "2", "4"]
    assert second.versions() == {"champion": "1", "challenger": "4"}
    assert second.champion.model is first.champion.model  # reused, not reloaded
    assert second.champion.loaded_at == first.champion.loaded_at
    assert not second.is_stale()
    assert first.versions() == {"champion": "1", "challenger": "2"}  # the old holder is intact


def test_a_registry_that_is_down_keeps_the_models_and_records_the_problem(tmp_path):
    registry = FakeRegistry({"champion": "1"})
    first = AliasModels.load(loader_for(registry, tmp_path))
    registry.down = True
    second = first.refresh()
    assert second.problem == "registry unreachable"
    assert second.champion.model is first.champion.model
    with pytest.raises(ConnectionError):
        second.is_stale()  # HotSwap records it and keeps serving
    registry.down = False
    assert second.is_stale()  # a part that failed may load now
    assert second.refresh().problem is None


def test_no_alias_registered_is_a_problem_and_the_holder_is_stale(tmp_path):
    registry = FakeRegistry({})
    empty = AliasModels.load(loader_for(registry, tmp_path))
    assert empty.problem == NO_CHAMPION and empty.champion is None and empty.pick("x") is None
    assert empty.is_stale()
    registry.aliases["champion"] = "1"
    assert empty.refresh().champion.ref.version == "1"


def test_retire_removes_only_the_downloads_the_new_holder_no_longer_uses(tmp_path):
    registry = FakeRegistry({"champion": "1", "challenger": "2"})
    old = AliasModels.load(loader_for(registry, tmp_path))
    registry.aliases["champion"] = "2"
    new = old.refresh()
    kept, dropped = old.models["challenger"].folder, old.models["champion"].folder
    old.retire(new)
    assert kept.exists() and not dropped.exists()
    assert registry.downloads == ["1", "2"]  # version 2 served to both aliases from one download
