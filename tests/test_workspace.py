"""Workspace store: round trips, validation, records, concurrency and crash safety."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.storage.atomic import TMP_PREFIX
from recsys.workspace import (
    DatasetInfo,
    NotFoundError,
    Workspace,
    WorkspaceError,
    dataset_fingerprint,
    default_root,
)

SPAWN = mp.get_context("spawn")


def make_tables(n: int = 50, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    interactions = pd.DataFrame(
        {
            "user_id": pd.Series([f"u{i}" for i in rng.integers(0, 10, n)], dtype="str"),
            "item_id": pd.Series([f"i{i}" for i in rng.integers(0, 20, n)], dtype="str"),
            "timestamp": pd.to_datetime(rng.integers(1_600_000_000, 1_700_000_000, n), unit="s").astype(
                "datetime64[ns]"
            ),
            "value": rng.random(n),
            "quantity": rng.integers(1, 5, n).astype("int64"),
        }
    )
    interactions.loc[3, "value"] = np.nan
    interactions.loc[4, "user_id"] = None
    items = pd.DataFrame({"item_id": pd.Series([f"i{i}" for i in range(20)], dtype="str"), "price": np.arange(20.0)})
    return {"interactions": interactions, "items": items}


def assert_tables_equal(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert set(got) == set(want)
    for name, df in want.items():
        pd.testing.assert_frame_equal(got[name], df.reset_index(drop=True), check_exact=True)
        assert got[name].dtypes.map(str).to_dict() == df.dtypes.map(str).to_dict()


# -- datasets -------------------------------------------------------------------------------


def test_dataset_round_trip_keeps_values_and_dtypes(isolated_workspace):
    ws = Workspace()
    assert ws.root == isolated_workspace.resolve()
    tables = make_tables()
    info = ws.save_dataset("shop", tables, metadata={"source": "test", "n": np.int64(2)})
    assert isinstance(info, DatasetInfo)
    assert info.row_counts == {"interactions": 50, "items": 20}
    assert info.columns["interactions"] == list(tables["interactions"].columns)
    assert info.metadata == {"source": "test", "n": 2}
    assert info.dtypes["interactions"]["user_id"] == "str"
    assert info.dtypes["interactions"]["timestamp"] == "datetime64[ns]"
    assert re.fullmatch(r"[0-9a-f]{64}", info.fingerprint) and info.short_fingerprint == info.fingerprint[:16]
    loaded = ws.load_tables("shop")
    assert_tables_equal(loaded, tables)
    assert dataset_fingerprint(loaded) == info.fingerprint == dataset_fingerprint(tables)
    assert ws.dataset_info("shop") == info


def test_known_codes_write_dictionary_pages_and_read_back_as_strings(isolated_workspace):
    import pyarrow.parquet as pq

    tables = make_tables(n=200)
    inter = tables["interactions"]
    inter["channel"] = pd.Series(["email", "web", None, "app"] * 50, dtype="str")
    codes, uniques = pd.factorize(inter["channel"])  # -1 where missing
    user_codes, user_uniques = pd.factorize(inter["user_id"])
    encodings = {"interactions": {"channel": (codes, pd.Index(uniques)),
                                  "user_id": (user_codes[:-1], pd.Index(user_uniques)),  # wrong length: unused
                                  "absent": (codes, pd.Index(uniques))}}
    info = Workspace().save_dataset("coded", tables, encodings=encodings)
    assert_tables_equal(Workspace().load_tables("coded"), tables)
    assert dataset_fingerprint(tables) == info.fingerprint
    meta = pq.ParquetFile(info.path / "interactions.parquet").metadata.row_group(0)
    encodings_of = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert "RLE_DICTIONARY" in encodings_of["channel"]
    # written as a dictionary array: no Arrow schema stored, or the column would read back as a category
    assert b"ARROW:schema" not in (pq.read_schema(info.path / "interactions.parquet").metadata or {})


def test_known_codes_are_ignored_where_the_schema_must_be_kept(isolated_workspace):
    frame = pd.DataFrame({"city": pd.Series(["Paris", "Lyon"] * 10, dtype="str"),
                          "seen": pd.date_range("2024-01-01", periods=20, freq="h", tz="Europe/Paris")})
    codes, uniques = pd.factorize(frame["city"])
    Workspace().save_dataset("zoned", {"t": frame}, encodings={"t": {"city": (codes, pd.Index(uniques))}})
    loaded = Workspace().load_tables("zoned")["t"]
    pd.testing.assert_frame_equal(loaded, frame)
    assert str(loaded["seen"].dt.tz) == "Europe/Paris"


def test_fingerprint_ignores_index_but_not_content():
    tables = make_tables()
    fp = dataset_fingerprint(tables)
    shifted = {k: v.set_axis(v.index + 100) for k, v in tables.items()}
    assert dataset_fingerprint(shifted) == fp
    assert dataset_fingerprint(dict(reversed(list(tables.items())))) == fp
    changed = {k: v.copy() for k, v in tables.items()}
    changed["interactions"].loc[0, "value"] += 1e-9
    assert dataset_fingerprint(changed) != fp
    retyped = {k: v.copy() for k, v in tables.items()}
    retyped["items"]["price"] = retyped["items"]["price"].astype("float32")
    assert dataset_fingerprint(retyped) != fp
    renamed = {"interactions": tables["interactions"].rename(columns={"value": "rating"}), "items": tables["items"]}
    assert dataset_fingerprint(renamed) != fp


def _one(df: pd.DataFrame) -> str:
    return dataset_fingerprint({"t": df})


def _arrow_str(*chunks: list) -> pd.Series:
    import pyarrow as pa

    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(c, pa.large_string()) for c in chunks])),
                     dtype="str")


def test_fingerprint_ignores_memory_layout():
    """Slices, Arrow chunking, string storage and NaN payloads do not change the digest."""
    tables = make_tables(n=300)
    fresh = {k: pd.DataFrame({c: pd.Series(list(v[c]), dtype=v[c].dtype) for c in v.columns})
             for k, v in tables.items()}
    fp = dataset_fingerprint(fresh)
    assert dataset_fingerprint(tables) == fp
    doubled = {k: pd.concat([v, v], ignore_index=True) for k, v in tables.items()}  # Arrow chunks with offsets
    sliced = {k: v.iloc[len(v) // 2:].reset_index(drop=True) for k, v in doubled.items()}
    assert dataset_fingerprint(sliced) == fp
    chunked = pd.DataFrame({"s": _arrow_str(["a", None], ["ccc", "dd"])})
    assert _one(chunked) == _one(pd.DataFrame({"s": pd.array(["a", None, "ccc", "dd"], dtype="str")}))
    python_storage = pd.array(["a", None, "ccc", "dd"], dtype=pd.StringDtype("python", na_value=np.nan))
    assert _one(pd.DataFrame({"s": python_storage})) == _one(chunked)
    payload = np.array([0x7FF8000000000123], dtype=np.uint64).view(np.float64)[0]
    assert np.isnan(payload)
    assert _one(pd.DataFrame({"f": [1.0, payload]})) == _one(pd.DataFrame({"f": [1.0, np.nan]}))
    masked = pd.array([1, 2, 3], dtype="Int64")
    other = pd.array([1, 5, 3], dtype="Int64")
    masked[1] = other[1] = None  # different values left under the mask
    assert _one(pd.DataFrame({"n": masked})) == _one(pd.DataFrame({"n": other}))


def test_fingerprint_ignores_bytes_under_nulls():
    import pyarrow as pa

    arr = pa.array(["a", "zz", "c"], pa.large_string())
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    junk = pa.Array.from_buffers(pa.large_string(), 3, [validity, *arr.buffers()[1:]], null_count=1)
    with_junk = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([junk])), dtype="str")
    assert _one(pd.DataFrame({"s": with_junk})) == _one(pd.DataFrame({"s": _arrow_str(["a", None, "c"])}))


def test_fingerprint_sees_value_boundaries_nulls_and_types():
    def strs(*values):
        return pd.DataFrame({"s": pd.array(list(values), dtype="str")})

    assert _one(strs("ab", "c")) != _one(strs("a", "bc"))
    assert _one(strs("a", None)) != _one(strs("a", ""))
    assert _one(strs("a", None)) != _one(strs(None, "a"))
    assert _one(pd.DataFrame({"i": [1, 2]})) != _one(pd.DataFrame({"i": [2, 1]}))
    assert _one(pd.DataFrame({"f": [0.0, np.nan]})) != _one(pd.DataFrame({"f": [np.nan, 0.0]}))
    assert _one(pd.DataFrame({"o": [1, "a"]})) != _one(pd.DataFrame({"o": [1, "b"]}))  # mixed objects: text
    assert _one(pd.DataFrame({"o": [[1, 2], [3]]})) != _one(pd.DataFrame({"o": [[1], [2, 3]]}))
    assert _one(pd.DataFrame({"c": pd.Categorical(["x", "y"], categories=["y", "x"])})) == _one(
        pd.DataFrame({"c": pd.Categorical(["x", "y"])}))
    assert _one(pd.DataFrame({"a": [1, 2]}, index=[5, 6])) == _one(pd.DataFrame({"a": [1, 2]}))


def test_list_info_overwrite_and_delete():
    ws = Workspace()
    ws.save_dataset("first", make_tables(seed=1))
    ws.save_dataset("second", make_tables(seed=2))
    assert [d.name for d in ws.list_datasets()] == ["second", "first"]
    assert ws.has_dataset("first") and not ws.has_dataset("third")

    with pytest.raises(WorkspaceError, match="already exists .*overwrite"):
        ws.save_dataset("first", make_tables(seed=3))
    old_path = ws.dataset_info("first").path
    new = ws.save_dataset("first", make_tables(seed=3), overwrite=True)
    assert new.fingerprint == dataset_fingerprint(make_tables(seed=3))
    assert not old_path.exists() and new.path.exists()
    assert_tables_equal(ws.load_tables("first"), make_tables(seed=3))
    assert [d.name for d in ws.list_datasets()] == ["first", "second"]

    ws.delete_dataset("first")
    assert not ws.has_dataset("first") and not new.path.exists()
    with pytest.raises(NotFoundError, match="dataset 'first' not found; available: second") as err:
        ws.dataset_info("first")
    assert isinstance(err.value, KeyError) and isinstance(err.value, WorkspaceError)
    with pytest.raises(NotFoundError):
        ws.load_tables("first")
    with pytest.raises(NotFoundError):
        ws.delete_dataset("first")
    ws.delete_dataset("first", missing_ok=True)
    assert sorted(p.name.split("@")[0] for p in (ws.root / "datasets").iterdir()) == ["second"]


def test_load_table_columns_absent_table_and_path():
    ws = Workspace()
    tables = make_tables()
    ws.save_dataset("shop", {"interactions": tables["interactions"]})
    part = ws.load_table("shop", "interactions", columns=["item_id", "value"])
    pd.testing.assert_frame_equal(part, tables["interactions"][["item_id", "value"]])
    assert ws.load_table("shop", "users") is None
    assert ws.table_path("shop", "users") is None
    path = ws.table_path("shop", "interactions")
    assert path.is_file() and path.suffix == ".parquet" and path.is_relative_to(ws.root)
    with pytest.raises(WorkspaceError, match="no columns"):
        ws.load_table("shop", "interactions", columns=["nope"])


def test_query_sees_tables_as_views_and_nothing_else():
    ws = Workspace()
    tables = make_tables()
    ws.save_dataset("shop", tables)
    out = ws.query("shop", "select count(*) as n from interactions")
    assert int(out["n"].iloc[0]) == 50
    joined = ws.query(
        "shop",
        "select i.item_id, sum(p.price) as s from interactions i join items p using (item_id) "
        "group by 1 order by 1",
    )
    want = tables["interactions"].merge(tables["items"], on="item_id").groupby("item_id")["price"].sum()
    np.testing.assert_allclose(joined["s"].to_numpy(), want.sort_index().to_numpy())
    with pytest.raises(WorkspaceError, match="query on dataset 'shop' failed"):
        ws.query("shop", "select * from read_csv('/etc/hostname')")
    with pytest.raises(WorkspaceError):
        ws.query("shop", "select * from no_such_table")


def test_unstorable_tables_are_refused_clearly():
    ws = Workspace()
    with pytest.raises(WorkspaceError, match="mixed types"):
        ws.save_dataset("bad", {"t": pd.DataFrame({"x": ["a", 1]})})
    with pytest.raises(WorkspaceError, match="at least one table"):
        ws.save_dataset("bad", {})
    with pytest.raises(WorkspaceError, match="must be a pandas DataFrame"):
        ws.save_dataset("bad", {"t": [1, 2]})
    assert not ws.has_dataset("bad")
    assert [p for p in (ws.root / "datasets").iterdir()] == []


# -- names ----------------------------------------------------------------------------------

BAD_NAMES = ["../x", "..", ".", "a/b", "a\\b", "/etc/passwd", "", "   ", ".hidden", "a..b", "x" * 65, "a\x00b", "C:x", "é"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_names_that_become_paths_are_validated(bad, tmp_path):
    ws = Workspace()
    tables = {"t": pd.DataFrame({"a": [1]})}
    with pytest.raises(WorkspaceError):
        ws.save_dataset(bad, tables)
    with pytest.raises(WorkspaceError):
        ws.save_dataset("ok", {bad: tables["t"]})
    with pytest.raises(WorkspaceError):
        ws.put_record("runs", bad, {})
    with pytest.raises(WorkspaceError):
        ws.write_artifact("runs", "r1", bad, b"x")
    with pytest.raises(WorkspaceError):
        ws.new_id("runs", prefix=bad if bad.strip() else "a/b")
    assert not ws.has_dataset("ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workspace"]


def test_spaces_become_underscores_and_kinds_are_checked():
    ws = Workspace()
    info = ws.save_dataset(" my data ", {"t": pd.DataFrame({"a": [1]})})
    assert info.name == "my_data" and ws.has_dataset("my data")
    with pytest.raises(WorkspaceError, match="unknown record kind"):
        ws.put_record("../runs", "x", {})
    with pytest.raises(WorkspaceError):
        ws.has_dataset(None)  # type: ignore[arg-type]


def test_symlink_out_of_the_root_is_refused(tmp_path):
    ws = Workspace()
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws.root / "runs" / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(WorkspaceError, match="escapes the workspace"):
        ws.write_artifact("runs", "evil", "x.bin", b"x")
    assert list(outside.iterdir()) == []


# -- records --------------------------------------------------------------------------------


def test_new_id_is_sortable_and_unique():
    ws = Workspace()
    ids = [ws.new_id("runs") for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", i) for i in ids)
    assert ws.new_id("jobs", prefix="ease").startswith("ease-")
    with pytest.raises(WorkspaceError):
        ws.new_id("models")


def test_records_crud_and_filters():
    ws = Workspace()
    ws.put_record("runs", "r1", {"dataset": "shop", "model": "ease", "metrics": {"ndcg": np.float32(0.5)}})
    ws.put_record("runs", "r2", {"dataset": "shop", "model": "als"})
    ws.put_record("runs", "r3", {"dataset": "other", "model": "ease", "kind": "x"})
    ws.put_record("jobs", "r1", {"status": "queued"})

    r1 = ws.get_record("runs", "r1")
    assert r1["id"] == "r1" and r1["metrics"] == {"ndcg": 0.5} and r1["created_at"] <= r1["updated_at"]
    assert [r["id"] for r in ws.list_records("runs")] == ["r3", "r2", "r1"]
    assert [r["id"] for r in ws.list_records("runs", dataset="shop")] == ["r2", "r1"]
    assert [r["id"] for r in ws.list_records("runs", dataset="shop", model="ease")] == ["r1"]
    assert [r["id"] for r in ws.list_records("runs", kind="x")] == ["r3"]
    assert ws.list_records("runs", missing_key=None) == []
    assert [r["status"] for r in ws.list_records("jobs")] == ["queued"]

    updated = ws.update_record("runs", "r1", model="EASE", epochs=lambda v: (v or 0) + 1)
    assert updated["model"] == "EASE" and updated["epochs"] == 1 and updated["dataset"] == "shop"
    assert ws.get_record("runs", "r1") == updated
    assert ws.list_records("runs")[-1]["id"] == "r1"  # order is by creation, not update

    ws.put_record("runs", "r1", {"replaced": True})
    assert {k: v for k, v in ws.get_record("runs", "r1").items() if k not in ("created_at", "updated_at")} == {
        "replaced": True,
        "id": "r1",
    }

    ws.write_artifact("runs", "r1", "notes.txt", b"hello")
    ws.delete_record("runs", "r1")
    assert not ws.artifact_dir("runs", "r1").joinpath("notes.txt").exists()
    with pytest.raises(NotFoundError, match="runs record 'r1' not found"):
        ws.get_record("runs", "r1")
    with pytest.raises(NotFoundError):
        ws.update_record("runs", "r1", x=1)
    with pytest.raises(NotFoundError):
        ws.delete_record("runs", "r1")
    ws.delete_record("runs", "r1", missing_ok=True)

    with pytest.raises(WorkspaceError, match="not JSON-safe"):
        ws.put_record("runs", "r9", {"f": object()})
    with pytest.raises(WorkspaceError, match="does not match"):
        ws.put_record("runs", "r9", {"id": "other"})
    assert not ws.has_record("runs", "r9")


def test_artifacts_arrays_and_state_dicts_round_trip():
    torch = pytest.importorskip("torch")
    ws = Workspace()
    path = ws.write_artifact("runs", "r1", "config.json", b'{"a": 1}')
    path = ws.write_artifact("runs", "r1", "config.json", b'{"a": 2}')
    assert json.loads(ws.read_artifact("runs", "r1", "config.json")) == {"a": 2}
    assert path.parent == ws.artifact_dir("runs", "r1")

    arrays = {"emb": np.random.default_rng(0).random((5, 3), dtype=np.float32), "ids": np.array(["a", "bc"])}
    ws.save_arrays("runs", "r1", "factors.npz", arrays)
    back = ws.load_arrays("runs", "r1", "factors.npz")
    assert back.keys() == arrays.keys()
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
        assert back[k].dtype == arrays[k].dtype
    with pytest.raises(WorkspaceError, match="pickle"):
        ws.save_arrays("runs", "r1", "bad.npz", {"o": np.array([{}, 1], dtype=object)})
    with open(ws.artifact_dir("runs", "r1") / "pickled.npz", "wb") as fh:
        np.savez(fh, o=np.array([{}, 1], dtype=object))
    with pytest.raises(WorkspaceError, match="cannot load arrays"):
        ws.load_arrays("runs", "r1", "pickled.npz")

    state = {"weight": torch.randn(4, 2), "bias": torch.zeros(2), "step": 3}
    ws.save_state_dict("runs", "r1", "model.pt", state)
    loaded = ws.load_state_dict("runs", "r1", "model.pt")
    assert loaded.keys() == state.keys() and loaded["step"] == 3
    assert torch.equal(loaded["weight"], state["weight"]) and torch.equal(loaded["bias"], state["bias"])

    with open(ws.artifact_dir("runs", "r1") / "evil.pt", "wb") as fh:
        torch.save({"x": Path("/tmp")}, fh)  # an arbitrary class: needs full unpickling
    with pytest.raises(WorkspaceError, match="cannot load weights"):
        ws.load_state_dict("runs", "r1", "evil.pt")
    with pytest.raises(NotFoundError):
        ws.load_state_dict("runs", "r1", "missing.pt")
    assert not [p for p in ws.artifact_dir("runs", "r1").iterdir() if p.name.startswith(TMP_PREFIX)]


def test_events_since_and_torn_last_line():
    ws = Workspace()
    assert ws.read_events("jobs", "j1") == []
    for step in range(3):
        ws.append_event("jobs", "j1", {"step": step, "msg": "line\nbreak"})
    assert [e["step"] for e in ws.read_events("jobs", "j1")] == [0, 1, 2]
    assert [e["step"] for e in ws.read_events("jobs", "j1", since=2)] == [2]
    path = ws.artifact_dir("jobs", "j1") / "events.jsonl"
    with open(path, "ab") as fh:
        fh.write(b'{"step": 3, "msg": "tor')  # a writer killed mid-line
    assert len(ws.read_events("jobs", "j1")) == 3
    ws.append_event("jobs", "j1", {"step": 4})
    assert [e["step"] for e in ws.read_events("jobs", "j1")] == [0, 1, 2, 4]
    assert ws.read_events("jobs", "j1", since=3) == [{"step": 4}]


def test_restart_sees_everything(isolated_workspace):
    ws = Workspace()
    ws.save_dataset("shop", make_tables())
    ws.put_record("runs", "r1", {"dataset": "shop"})
    ws.append_event("jobs", "j1", {"step": 1})
    ws.save_arrays("runs", "r1", "a.npz", {"x": np.arange(3)})
    del ws
    again = Workspace(isolated_workspace)
    assert [d.name for d in again.list_datasets()] == ["shop"]
    assert_tables_equal(again.load_tables("shop"), make_tables())
    assert again.get_record("runs", "r1")["dataset"] == "shop"
    assert again.read_events("jobs", "j1") == [{"step": 1}]
    np.testing.assert_array_equal(again.load_arrays("runs", "r1", "a.npz")["x"], np.arange(3))


def test_default_root(monkeypatch, tmp_path, isolated_workspace):
    assert default_root() == isolated_workspace.resolve()
    monkeypatch.delenv("RECSYS_WORKSPACE")
    monkeypatch.chdir(tmp_path)
    assert default_root() == (tmp_path / "workspace").resolve()


# -- concurrency ----------------------------------------------------------------------------

N_UPDATES = 15


def _process_worker(root: str, worker: int) -> None:
    ws = Workspace(root)
    payload = "x" * 10_000  # far beyond PIPE_BUF, so tearing would show
    for step in range(N_UPDATES):
        ws.update_record("jobs", "shared", counter=lambda v: v + 1)
        ws.append_event("jobs", "shared", {"worker": worker, "step": step, "payload": payload})
    ws.save_dataset(f"p{worker}", make_tables(n=30, seed=worker))
    ws.save_dataset("contended", make_tables(n=30, seed=worker), overwrite=True)
    ws.put_record("runs", ws.new_id("runs"), {"worker": worker})


def test_concurrent_processes_lose_nothing(isolated_workspace):
    ws = Workspace(isolated_workspace)
    ws.put_record("jobs", "shared", {"counter": 0})
    procs = [SPAWN.Process(target=_process_worker, args=(str(isolated_workspace), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert ws.get_record("jobs", "shared")["counter"] == 4 * N_UPDATES
    events = ws.read_events("jobs", "shared")
    assert len(events) == 4 * N_UPDATES and all(len(e["payload"]) == 10_000 for e in events)
    for w in range(4):
        assert [e["step"] for e in events if e["worker"] == w] == list(range(N_UPDATES))
    raw = (ws.artifact_dir("jobs", "shared") / "events.jsonl").read_bytes()
    assert raw.count(b"\n") == 4 * N_UPDATES
    for w in range(4):
        assert_tables_equal(ws.load_tables(f"p{w}"), make_tables(n=30, seed=w))
    assert sorted(r["worker"] for r in ws.list_records("runs")) == [0, 1, 2, 3]
    contended = ws.dataset_info("contended")
    assert contended.fingerprint in {dataset_fingerprint(make_tables(n=30, seed=w)) for w in range(4)}
    assert dataset_fingerprint(ws.load_tables("contended")) == contended.fingerprint
    versions = [p for p in (ws.root / "datasets").iterdir() if p.name.startswith("contended@")]
    assert versions == [contended.path]


def test_concurrent_threads(isolated_workspace):
    ws = Workspace()
    ws.put_record("jobs", "shared", {"counter": 0})
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            own = Workspace(isolated_workspace) if t % 2 else ws  # sessions may share one object
            for step in range(10):
                own.update_record("jobs", "shared", counter=lambda v: v + 1)
                own.append_event("jobs", "shared", {"t": t, "step": step})
                own.list_datasets()
            own.save_dataset(f"t{t}", make_tables(n=20, seed=t))
            own.save_dataset("same", make_tables(n=20, seed=t), overwrite=True)
            assert own.query("same", "select count(*) n from interactions")["n"].iloc[0] == 20
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert ws.get_record("jobs", "shared")["counter"] == 60
    assert len(ws.read_events("jobs", "shared")) == 60
    assert {d.name for d in ws.list_datasets()} == {f"t{t}" for t in range(6)} | {"same"}


# -- crash safety ---------------------------------------------------------------------------


def _endless_writer(root: str) -> None:
    ws = Workspace(root)
    seed = 0
    while True:
        seed += 1
        ws.save_dataset("victim", make_tables(n=20_000, seed=seed), overwrite=True)
        ws.save_dataset(f"v{seed}", make_tables(n=5_000, seed=seed))
        ws.write_artifact("runs", "r", "blob.bin", os.urandom(1 << 20))


def test_killed_writer_never_leaves_a_visible_partial_dataset(isolated_workspace):
    root = str(isolated_workspace)
    Workspace(root)
    proc = SPAWN.Process(target=_endless_writer, args=(root,))
    proc.start()
    deadline = time.time() + 60
    while not Workspace(root).has_dataset("v2") and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.137)  # somewhere inside a write
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)

    ws = Workspace(root)
    names = {d.name for d in ws.list_datasets()}
    assert {"victim", "v1", "v2"} <= names
    for info in ws.list_datasets():
        tables = ws.load_tables(info.name)
        assert dataset_fingerprint(tables) == info.fingerprint
        assert {t: len(df) for t, df in tables.items()} == info.row_counts
    assert len(ws.read_artifact("runs", "r", "blob.bin")) == 1 << 20

    # leftovers of the killed writer are kept while fresh (could be a live writer's) ...
    leftovers = [p for p in (ws.root / "datasets").iterdir() if not any(p == d.path for d in ws.list_datasets())]
    ws.cleanup()
    assert all(p.exists() for p in leftovers)
    # ... and removed once stale; what the catalog lists stays intact
    ws.cleanup(older_than_s=0)
    live = sorted(d.path for d in ws.list_datasets())
    assert sorted((ws.root / "datasets").iterdir()) == live
    assert not [p for p in (ws.root / "runs" / "r").iterdir() if p.name.startswith(TMP_PREFIX)]


def test_stale_temporaries_are_cleaned_on_open(tmp_path):
    root = tmp_path / "ws2"
    ws = Workspace(root)
    ws.save_dataset("real", make_tables())
    partial = root / "datasets" / f"{TMP_PREFIX}123-abcd-half@v1"
    partial.mkdir()
    (partial / "interactions.parquet").write_bytes(b"PAR1 truncated")
    orphan = root / "datasets" / "ghost@20200101T000000000000-abcdef"  # renamed, never committed
    orphan.mkdir()
    tmp_file = ws.artifact_dir("runs", "r1") / f"{TMP_PREFIX}123-abcd-model.pt"
    tmp_file.write_bytes(b"half")
    fresh = root / "datasets" / f"{TMP_PREFIX}456-beef-busy@v1"
    fresh.mkdir()

    assert [d.name for d in Workspace(root).list_datasets()] == ["real"]
    old = time.time() - 3600
    for path in (partial / "interactions.parquet", partial, orphan, tmp_file):
        os.utime(path, (old, old))
    assert ws.cleanup(older_than_s=600) == 3
    assert not partial.exists() and not orphan.exists() and not tmp_file.exists()
    assert fresh.exists()
    assert_tables_equal(ws.load_tables("real"), make_tables())
