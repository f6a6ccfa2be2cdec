"""MovieLens loaders: ``ml-latest-small`` style CSV and ``ml-1m`` style ``::`` files.

Ratings become interactions (event_type "rating", value = the rating), since the protocol
treats every rating as implicit feedback. Item ``created_at`` is the item's first rating
timestamp (MovieLens has no catalog dates, and this keeps "an item exists before it is
interacted with"); items nobody rated get the last rating timestamp of the data set, i.e. they
look like new arrivals at the snapshot time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
from components.data.validation import DataValidationError, validate_dataset

RATING_EVENT = "rating"
NO_GENRES = "(no genres listed)"
CSV_FILES = ("ratings.csv", "movies.csv")
DAT_FILES = ("ratings.dat", "movies.dat")
DAT_ENCODING = "latin-1"


def detect_format(path: Path | str) -> str:
    """``"csv"`` (ml-latest*, ml-25m...) or ``"dat"`` (ml-1m, ml-10m); raise if neither."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataValidationError(str(folder), "MovieLens folder does not exist")
    for fmt, files in (("csv", CSV_FILES), ("dat", DAT_FILES)):
        if all((folder / f).is_file() for f in files):
            return fmt
    present = sorted(p.name for p in folder.iterdir())[:10]
    raise DataValidationError(
        str(folder),
        f"not a MovieLens folder: expected {' + '.join(CSV_FILES)} (ml-latest-small) or "
        f"{' + '.join(DAT_FILES)} (ml-1m); found {present}",
    )


def _read_csv(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings_file, movies_file = (folder / f for f in CSV_FILES)
    ratings = pd.read_csv(ratings_file)
    movies = pd.read_csv(movies_file)
    for frame, file, needed in (
        (ratings, ratings_file, ["userId", "movieId", "rating", "timestamp"]),
        (movies, movies_file, ["movieId", "title", "genres"]),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataValidationError(str(file), f"missing column(s) {missing}")
    return (
        ratings.rename(
            columns={"userId": USER_ID, "movieId": ITEM_ID, "rating": VALUE, "timestamp": TIMESTAMP}
        ),
        movies.rename(columns={"movieId": ITEM_ID, "title": TITLE, "genres": CATEGORIES}),
    )


def _read_dat(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings_file, movies_file = (folder / f for f in DAT_FILES)
    # "UserID::MovieID::Rating::Timestamp": splitting on ":" keeps the fast C parser; the empty
    # fields between the two colons are skipped by usecols.
    ratings = pd.read_csv(
        ratings_file,
        sep=":",
        header=None,
        usecols=[0, 2, 4, 6],
        names=[USER_ID, "_a", ITEM_ID, "_b", VALUE, "_c", TIMESTAMP],
        encoding=DAT_ENCODING,
    )
    rows = []
    text = movies_file.read_text(encoding=DAT_ENCODING)
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) < 3:
            raise DataValidationError(str(movies_file), "expected MovieID::Title::Genres", [number])
        rows.append((parts[0], "::".join(parts[1:-1]), parts[-1]))
    movies = pd.DataFrame(rows, columns=[ITEM_ID, TITLE, CATEGORIES])
    return ratings, movies


def load_movielens(path: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load a MovieLens folder as validated ``(interactions, items)`` per the data contract."""
    folder = Path(path)
    fmt = detect_format(folder)
    ratings, movies = _read_csv(folder) if fmt == "csv" else _read_dat(folder)

    ratings[EVENT_TYPE] = RATING_EVENT
    interactions = ratings[[USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP, VALUE]]

    genres = movies[CATEGORIES].fillna("").astype(str)
    items = pd.DataFrame(
        {
            ITEM_ID: movies[ITEM_ID],
            TITLE: movies[TITLE],
            CATEGORIES: genres.where(genres != NO_GENRES, ""),
            AVAILABLE: True,
        }
    )
    first_seen = (
        pd.to_numeric(ratings[TIMESTAMP])
        .groupby(pd.to_numeric(ratings[ITEM_ID], errors="coerce"))
        .min()
    )
    never_rated = pd.to_numeric(ratings[TIMESTAMP]).max()
    created = pd.to_numeric(items[ITEM_ID], errors="coerce").map(first_seen)
    items[CREATED_AT] = created.fillna(never_rated).astype("int64")
    return validate_dataset(interactions, items, str(folder))
