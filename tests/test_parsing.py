"""Column parsing helpers: id cleaning through distinct values, the float-id rule, ISO sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.parsing import clean_ids, factorize_clean, parse_datetimes


def strs(values) -> pd.Series:
    return pd.Series(pd.array(list(values), dtype="str"))


def test_factorize_clean_merges_cleaned_duplicates_and_marks_missing():
    ids, codes, uniques, fixed = factorize_clean(strs([" a", "a", "NA", "b ", None, "b", "  "]), ids=True)
    assert ids.tolist()[:2] == ["a", "a"] and ids.tolist()[3] == "b" and ids.tolist()[5] == "b"
    assert ids.isna().tolist() == [False, False, True, False, True, False, True]
    assert (codes < 0).tolist() == ids.isna().tolist()
    assert codes[0] == codes[1] and codes[3] == codes[5] and codes[0] != codes[3]
    assert sorted(uniques) == ["a", "b"] and not fixed
    for i in np.flatnonzero(codes >= 0):
        assert uniques[codes[i]] == ids[i]


def test_factorize_clean_keeps_a_clean_column_as_is():
    s = strs(["u1", "u2", "u1"])
    ids, codes, uniques, fixed = factorize_clean(s, ids=True)
    assert ids.tolist() == s.tolist() and codes[0] == codes[2] != codes[1] and len(uniques) == 2 and not fixed


def test_float_ids_lose_any_run_of_zeros_only_when_every_id_has_one():
    ids, fixed = clean_ids(strs(["17850.00", "12.0", None]))
    assert ids.tolist()[:2] == ["17850", "12"] and fixed
    for values in (["12.0", "abc"], ["abc", "12.0"], ["12.5", "3.0"], ["1.0x", "2.0"]):
        ids, fixed = clean_ids(strs(values))
        assert ids.tolist() == values and not fixed


def test_iso_fast_path_samples_both_ends_of_a_sparse_column():
    n = 5_000
    values = [None] * n
    for i in range(1_500, 3_500):
        values[i] = f"2024-01-{1 + i % 28:02d}T10:00:00"
    times, bad, info = parse_datetimes(strs(values))
    assert info["formats"] == ["iso8601"] and not bad.any()
    assert times.notna().sum() == 2_000 and times[1_500] == pd.Timestamp("2024-01-17 10:00")


def test_non_iso_tail_leaves_the_fast_path_and_still_parses():
    values = [f"2024-02-{1 + i % 28:02d}" for i in range(1_000)] + ["05.01.2024 10:00"] * 300
    times, bad, info = parse_datetimes(strs(values))
    assert "iso8601" not in info["formats"] or len(info["formats"]) > 1
    assert not bad.any() and times.iloc[-1] == pd.Timestamp("2024-01-05 10:00")
    short = parse_datetimes(strs(["2024-01-01"] * 150 + [None] * 10))[2]
    assert short["formats"] == ["iso8601"]


def _many_ids(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    odd = ["x", "é", "日本", "a b", "u1 ", "w" * 256, "w" * 257, "w" * 513]  # short, multibyte, 256-byte lengths
    pool = np.array([f"u{i}" for i in range(30_000)] + odd, dtype=object)
    values = pool[rng.integers(0, len(pool), n)]
    values[rng.random(n) < 0.05] = None
    return values


def _assert_same_partition(codes: np.ndarray, uniques, values: np.ndarray) -> None:
    """codes/uniques describe ``values`` exactly: one code per distinct value, -1 for missing."""
    missing = pd.isna(values)
    assert ((codes < 0) == missing).all()
    assert np.array_equal(np.asarray(list(uniques), dtype=object)[codes[~missing]], values[~missing])
    assert len(uniques) == len(set(uniques)) == len(set(values[~missing]))


def test_many_distinct_ids_are_encoded_exactly():
    # 120k rows with 30k distinct ids take the grouped (cache-sized) hashing path.
    values = _many_ids(120_000)
    ids, codes, uniques, fixed = factorize_clean(strs(values), ids=True)
    cleaned = np.array([None if v is None else v.strip() for v in values], dtype=object)  # "u1 " -> "u1"
    _assert_same_partition(codes, uniques, cleaned)
    assert ids.isna().tolist() == pd.isna(cleaned).tolist() and not fixed
    assert ids[~pd.isna(cleaned)].tolist() == cleaned[~pd.isna(cleaned)].tolist()


def test_grouped_encoding_of_sliced_and_narrow_arrow_strings():
    import pyarrow as pa

    from recsys.data.parsing import _encode_strings

    values = _many_ids(130_000, seed=1)
    values[::97] = ""
    for arr in (pa.array(values, pa.string()).slice(7_000), pa.array(values, pa.large_string()).slice(3)):
        codes, uniques = _encode_strings(arr)
        _assert_same_partition(codes, uniques.to_pylist(), np.asarray(arr.to_pylist(), dtype=object))
