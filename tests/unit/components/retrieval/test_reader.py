import fcntl
import os

import pytest

from components.retrieval.reader import (
    LOCK_FILE,
    IndexBusyError,
    folder_lock,
    snapshot_lite,
)


def _lite_folder(tmp_path):
    folder = tmp_path / "milvus.db"
    (folder / "collections" / "c1").mkdir(parents=True)
    (folder / "collections" / "c1" / "data.bin").write_bytes(b"vectors")
    (folder / "aliases.json").write_text("{}")
    (folder / LOCK_FILE).touch()
    return folder


def test_snapshot_copies_the_folder_without_its_lock(tmp_path):
    source = _lite_folder(tmp_path)
    copy = snapshot_lite(source, tmp_path / "scratch")
    assert copy.name == "milvus.db" and copy.parent.parent == tmp_path / "scratch"
    assert (copy / "collections" / "c1" / "data.bin").read_bytes() == b"vectors"
    assert not (copy / LOCK_FILE).exists()


def test_snapshot_waits_for_a_writer_and_gives_up_after_the_timeout(tmp_path):
    source = _lite_folder(tmp_path)
    fd = os.open(source / LOCK_FILE, os.O_RDWR)  # another "process" holds the folder
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(IndexBusyError):
            snapshot_lite(source, tmp_path / "scratch", timeout_s=0.2)
        assert not any((tmp_path / "scratch").iterdir())  # nothing half-copied left behind
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    with folder_lock(source, timeout_s=0.1):
        pass  # free again


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        snapshot_lite(tmp_path / "none.db", tmp_path / "scratch")
