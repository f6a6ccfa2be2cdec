import threading
import time

from serving.refresh import Backoff, HotSwap


class Registry:
    """A fake alias: the version the 'champion' points at."""

    def __init__(self) -> None:
        self.version = 1
        self.fail = False
        self.retired: list[tuple[int, int]] = []


def _hot(registry: Registry, **kwargs) -> HotSwap:
    def build(previous):
        if registry.fail:
            raise RuntimeError("registry unreachable")
        return {"version": registry.version}

    return HotSwap(
        "test",
        build=build,
        is_stale=lambda runtime: runtime["version"] != registry.version,
        retire=lambda old, new: registry.retired.append((old["version"], new["version"])),
        **kwargs,
    )


def test_swaps_only_when_stale_and_retires_the_old_runtime_after_the_grace():
    registry = Registry()
    hot = _hot(registry, retire_after_s=0.05)
    assert hot.current == {"version": 1}
    assert hot.refresh() is False and hot.swaps == 0
    registry.version = 2
    assert hot.refresh() is True and hot.current == {"version": 2}
    time.sleep(0.2)
    assert registry.retired == [(1, 2)]


def test_a_failed_build_keeps_serving_the_current_runtime():
    registry = Registry()
    hot = _hot(registry)
    registry.version, registry.fail = 2, True
    assert hot.refresh() is False
    assert hot.current == {"version": 1} and "unreachable" in hot.last_error
    registry.fail = False
    assert hot.refresh() is True and hot.last_error is None


def test_background_thread_notices_a_moved_alias():
    registry = Registry()
    hot = _hot(registry, interval_s=0.02, retire_after_s=0.0)
    hot.start()
    try:
        registry.version = 3
        deadline = time.monotonic() + 2.0
        while hot.current["version"] != 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hot.current == {"version": 3}
    finally:
        hot.stop()


def test_readers_always_see_a_whole_runtime_during_swaps():
    registry = Registry()
    hot = _hot(registry, retire_after_s=0.0)
    seen, stop = set(), threading.Event()

    def read():
        while not stop.is_set():
            seen.add(hot.current["version"])

    reader = threading.Thread(target=read)
    reader.start()
    for version in range(2, 30):
        registry.version = version
        hot.refresh()
    stop.set()
    reader.join()
    assert seen <= set(range(1, 30)) and hot.current["version"] == 29


def test_backoff_doubles_up_to_its_cap_and_resets():
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_checks_come_sooner_while_degraded_or_failing_and_regular_once_healthy():
    registry = Registry()
    state = {"degraded": True}
    hot = HotSwap(
        "test",
        build=lambda previous: {"version": registry.version},
        is_stale=lambda runtime: False,
        degraded=lambda runtime: state["degraded"],
        interval_s=30.0,
        retry_first_s=1.0,
    )
    assert [hot.next_wait_s() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    state["degraded"] = False
    assert hot.next_wait_s() == 30.0
    hot.last_error = "registry unreachable"  # a failed build retries with backoff, from 1 s
    assert hot.next_wait_s() == 1.0
    hot.interval_s = 1.5  # a live change of the interval caps the backoff too
    assert hot.next_wait_s() == 1.5
