"""One tiny MovieLens download, in either of its two formats, for the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

# ml-latest-small's format: a quoted title with a comma, "(no genres listed)", a never-rated movie.
CSV_FILES = {
    "ratings.csv": (
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964981247\n2,1,5.0,964980000\n"
    ),
    "movies.csv": (
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation\n"
        '2,"American President, The (1995)",(no genres listed)\n'
        "3,Never Rated (2018),Drama\n"
    ),
}
# ml-1m's format: "::" separated, latin-1, colons inside a title.
DAT_FILES = {
    "ratings.dat": "1::10::5::978300760\n2::20::3::978302109\n",
    "movies.dat": "10::Amélie (2001)::Comedy|Romance\n20::Star Wars: Episode IV (1977)::Action\n",
}


def write_movielens(folder: Path, fmt: str = "csv") -> Path:
    """Write the tiny data set into a new ``folder`` in ``fmt`` ("csv" or "dat"); returns it."""
    files = {"csv": CSV_FILES, "dat": DAT_FILES}[fmt]
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode("latin-1" if fmt == "dat" else "utf-8"))
    return folder


@pytest.fixture
def movielens() -> Callable[..., Path]:
    """``movielens(folder, fmt="csv")`` writes the tiny MovieLens files into ``folder``."""
    return write_movielens
