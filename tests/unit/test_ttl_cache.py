"""TtlCache: fresh, then usable while one refresh is claimed, then gone; bounded."""

from __future__ import annotations

from minitorrent.tracker.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_fresh_then_stale_then_gone() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(1.0, monotonic=clock, stale_limit=5.0)
    cache.put("k", 1)
    assert cache.get_claiming("k") == (1, False)  # fresh
    clock.now = 2.0
    assert cache.get("k") == 1  # stale but usable
    assert cache.get_claiming("k") == (1, True)
    assert cache.get_claiming("k") == (1, False)  # one refresh at a time
    cache.put("k", 2)  # the refresh's answer: fresh again
    assert cache.get_claiming("k") == (2, False)
    clock.now = 7.1
    assert cache.get_claiming("k") == (None, False)


def test_forget_and_discard() -> None:
    cache: TtlCache[str, int] = TtlCache(1.0, monotonic=Clock())
    for key, value in (("a", 1), ("b", 2), ("c", 1)):
        cache.put(key, value)
    cache.forget(lambda value: value == 1)
    cache.discard("missing")
    assert [cache.get(k) for k in "abc"] == [None, 2, None]
    cache.discard("b")
    assert cache.get("b") is None


def test_memory_stays_bounded() -> None:
    clock = Clock()
    cache: TtlCache[int, int] = TtlCache(1.0, monotonic=clock, max_entries=3)
    for key in range(3):
        cache.put(key, key)
    clock.now = 2.0  # all three unusable now
    cache.put(3, 3)  # full: the unusable ones go
    assert [cache.get(k) for k in range(4)] == [None, None, None, 3]
    for key in range(4, 7):  # full of usable ones at the third: all go, the new one stays
        cache.put(key, key)
    assert [cache.get(k) for k in range(3, 7)] == [None, None, None, 6]


def test_an_answer_read_before_a_forget_is_not_put_back() -> None:
    """With worker threads a session read before a logout could be stored after the
    logout's forget, and the token would work on."""
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(1.0, monotonic=clock, stale_limit=5.0)
    cache.put("k", 1)
    clock.now = 2.0
    assert cache.get_claiming("k") == (1, True)
    since = cache.generation()  # the refresh starts reading
    cache.forget(lambda value: value == 1)  # the logout
    cache.put("k", 1, since=since)
    assert cache.get("k") is None
    cache.put("other", 2, since=cache.generation())
    assert cache.get("other") == 2
