from pathlib import Path

import pandas as pd
import pytest

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
    VALUE,
)
from components.data.movielens import detect_format, load_movielens
from components.data.validation import DataValidationError


def test_csv_format_becomes_the_contract(tmp_path: Path, movielens) -> None:
    events, items = load_movielens(movielens(tmp_path / "ml-latest-small"))
    assert list(events.columns) == [USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP, VALUE]
    assert events[EVENT_TYPE].unique().tolist() == ["rating"]
    assert events[VALUE].tolist() == [4.0, 3.5, 5.0]
    assert events[TIMESTAMP].iloc[0] == pd.Timestamp(964982703, unit="s", tz="UTC")
    by_id = items.set_index(ITEM_ID)
    assert by_id.loc[2, TITLE] == "American President, The (1995)"
    assert by_id.loc[2, CATEGORIES] == "" and by_id.loc[1, CATEGORIES] == "Adventure|Animation"
    assert by_id[AVAILABLE].all()
    # created_at = first rating of the item; never-rated items get the last rating time
    assert by_id.loc[1, CREATED_AT] == pd.Timestamp(964980000, unit="s", tz="UTC")
    assert by_id.loc[3, CREATED_AT] == events[TIMESTAMP].max()


def test_dat_format_reads_latin1_and_colons_in_titles(tmp_path: Path, movielens) -> None:
    folder = movielens(tmp_path / "ml-1m", "dat")
    assert detect_format(folder) == "dat"
    events, items = load_movielens(str(folder))
    assert events[[USER_ID, ITEM_ID]].values.tolist() == [[1, 10], [2, 20]]
    assert events[VALUE].tolist() == [5.0, 3.0] and set(events[EVENT_TYPE]) == {"rating"}
    by_id = items.set_index(ITEM_ID)
    assert by_id.loc[10, TITLE] == "Amélie (2001)"
    assert by_id.loc[20, TITLE] == "Star Wars: Episode IV (1977)"
    assert by_id.loc[10, CATEGORIES] == "Comedy|Romance"


def test_a_folder_without_movielens_files_is_named(tmp_path: Path, movielens) -> None:
    folder = movielens(tmp_path / "ml")
    (folder / "movies.csv").unlink()
    with pytest.raises(DataValidationError, match="movies.csv") as error:
        load_movielens(folder)
    assert str(folder) in str(error.value) and "ratings.dat" in str(error.value)
    with pytest.raises(DataValidationError, match="does not exist"):
        load_movielens(tmp_path / "nope")


def test_a_broken_ratings_file_is_refused(tmp_path: Path, movielens) -> None:
    folder = movielens(tmp_path / "ml")
    (folder / "ratings.csv").write_text("userId,movieId,stars\n1,1,4\n")
    with pytest.raises(DataValidationError, match="ratings.csv.*missing column"):
        load_movielens(folder)
