"""Every test session gets a state folder of its own as the process's ``RECO_STATE_DIR``: a test
whose arguments fall back to the process's settings (``ServeArgs`` fills unset fields from them)
reads and writes there, never in the developer's ``var/`` (erasure tombstones written by a test
once hid a user there from the next run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.settings import get_settings


@pytest.fixture(autouse=True, scope="session")
def _session_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    patch = pytest.MonkeyPatch()
    patch.setenv("RECO_STATE_DIR", str(tmp_path_factory.mktemp("session-state")))
    get_settings.cache_clear()
    yield
    patch.undo()
    get_settings.cache_clear()
