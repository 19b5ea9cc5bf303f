"""ByteAccountedLRU and its engine-wide totals: caps by count and bytes, spill hooks."""

from __future__ import annotations

import sys

from engine.index.caches import (
    LOADED_FILES,
    QUERY_CACHE,
    CacheTotals,
    LoadedFileCache,
    QueryCache,
    QueryKey,
)
from engine.index.results import SearchHit


def entry_size(key: str, value: str) -> int:
    return sys.getsizeof(key) + sys.getsizeof(value)


def test_count_cap_evicts_least_recently_used():
    cache = LoadedFileCache(max_entries=2, max_bytes=10**6)
    cache.put("a", "1")
    cache.put("b", "2")
    cache.get("a")  # b is now the oldest
    cache.put("c", "3")
    assert cache.keys() == ["a", "c"]


def test_byte_cap_holds_and_bytes_are_exact():
    size = entry_size("a", "x" * 100)
    cache = LoadedFileCache(max_entries=100, max_bytes=2 * size)
    for key in "abc":
        cache.put(key, "x" * 100)
    assert len(cache) == 2
    assert cache.bytes == 2 * size
    assert cache.bytes <= cache.max_bytes


def test_value_larger_than_byte_cap_is_refused():
    cache = LoadedFileCache(max_entries=10, max_bytes=100)
    assert cache.put("big", "x" * 1000) is False
    assert len(cache) == 0 and cache.bytes == 0


def test_replacing_a_key_does_not_double_count():
    cache = LoadedFileCache(max_entries=10, max_bytes=10**6)
    cache.put("a", "short")
    cache.put("a", "a much longer value")
    assert cache.bytes == entry_size("a", "a much longer value")


def test_totals_follow_every_insert_and_removal_back_to_zero():
    totals = CacheTotals()
    first = LoadedFileCache(10, 10**6, totals)
    second = LoadedFileCache(10, 10**6, totals)
    first.put("a", "alpha")
    second.put("b", "beta")
    second.put("c", "gamma")
    assert totals.loaded_files == 3
    assert totals.loaded_content_bytes == first.bytes + second.bytes
    first.drop_oldest(1)
    assert totals.loaded_files == 2
    second.discard("b")
    second.spill_out()
    assert totals.loaded_files == 0 and totals.loaded_content_bytes == 0


def test_drop_oldest_reports_what_it_released():
    cache = LoadedFileCache(10, 10**6)
    for key in "abcd":
        cache.put(key, key * 10)
    expected = entry_size("a", "a" * 10) + entry_size("b", "b" * 10)
    result = cache.drop_oldest(2)
    assert (result.entries, result.bytes) == (2, expected)
    assert cache.keys() == ["c", "d"]


def test_set_caps_trims_to_new_caps():
    cache = LoadedFileCache(10, 10**6)
    for key in "abcde":
        cache.put(key, key)
    dropped = cache.set_caps(max_entries=2, max_bytes=10**6)
    assert dropped.entries == 3 and cache.keys() == ["d", "e"]


def test_spilled_key_is_loaded_back_through_spill_loader():
    cache = LoadedFileCache(10, 10**6)
    cache.put("a", "alpha")
    spilled = cache.spill_out()
    assert spilled == [("a", "alpha")] and len(cache) == 0
    assert cache.spilled_keys() == ["a"]
    store = dict(spilled)
    cache.spill_loader = store.get
    assert cache.get("a") == "alpha"
    assert len(cache) == 1 and cache.spilled_keys() == []


def test_unspilled_miss_does_not_call_loader():
    calls = []
    cache = LoadedFileCache(10, 10**6)
    cache.spill_loader = lambda key: calls.append(key)
    assert cache.get("never") is None
    assert calls == []


def test_invalidate_forgets_spilled_keys():
    cache = LoadedFileCache(10, 10**6)
    cache.put("a", "alpha")
    cache.spill_out()
    cache.invalidate()
    cache.spill_loader = lambda key: "stale"
    assert cache.get("a") is None


def test_export_and_import_keep_order():
    source = LoadedFileCache(10, 10**6)
    for key in "abc":
        source.put(key, key.upper())
    target = LoadedFileCache(10, 10**6)
    assert target.import_entries(source.export_entries()) == 3
    assert target.keys() == ["a", "b", "c"]
    assert target.bytes == source.bytes


def test_query_cache_counts_hits_deeply():
    totals = CacheTotals()
    cache = QueryCache(10, 10**6, totals)
    hits = (SearchHit("p", "a.py", 3, "def foo(): pass", 1.5),)
    key = QueryKey("foo", "fulltext", "p", 20, False)
    cache.put(key, hits)
    assert cache.bytes > sys.getsizeof(hits) + hits[0].size_in_memory()
    assert totals.cached_queries == 1 and totals.query_cache_bytes == cache.bytes
    assert totals.entries(QUERY_CACHE) == 1 and totals.entries(LOADED_FILES) == 0
    cache.clear()
    assert totals.query_cache_bytes == 0


def test_search_hit_round_trips_through_dict_and_rejects_bad_fields():
    hit = SearchHit("p", "a.py", 3, "text", 0.5)
    assert SearchHit.from_dict(hit.to_dict()) == hit
    bad = hit.to_dict() | {"line": "3"}
    try:
        SearchHit.from_dict(bad)
    except ValueError as error:
        assert "line" in str(error)
    else:
        raise AssertionError("a string line number was accepted")
