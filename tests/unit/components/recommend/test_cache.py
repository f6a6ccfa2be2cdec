"""The bounded TTL cache: a size limit, an age limit, least recently used out first."""

import pytest

from components.recommend.cache import BoundedCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_filling_past_the_limit_keeps_only_the_most_recently_used():
    cache = BoundedCache(max_size=3, ttl_s=60)
    for key in range(3):
        cache.put(key, str(key))
    assert cache.get(0) == "0"  # 0 is now the most recently used
    for key in range(3, 10):
        cache.put(key, str(key))
    assert len(cache) == 3
    assert [cache.get(k) for k in (7, 8, 9)] == ["7", "8", "9"]
    assert cache.get(0) is None and cache.get(1) is None


def test_entries_older_than_the_ttl_are_misses_and_dropped():
    clock = Clock()
    cache = BoundedCache(max_size=10, ttl_s=5, clock=clock)
    cache.put("a", 1)
    clock.now = 5.0
    assert cache.get("a") == 1
    clock.now = 5.1
    assert cache.get("a") is None
    assert len(cache) == 0
    assert (cache.hits, cache.misses) == (1, 1)


def test_size_or_ttl_zero_keeps_nothing_and_clear_empties():
    for cache in (BoundedCache(0, 10), BoundedCache(10, 0)):
        cache.put("a", 1)
        assert cache.get("a") is None
    cache = BoundedCache(2, 10)
    cache.put("a", 1)
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None


def test_negative_limits_are_refused():
    with pytest.raises(ValueError):
        BoundedCache(-1, 1)
