"""No raw email or phone leaves the customer table, and names never steer files out of the workspace.

One small dataset with emails and phones goes through import, training, a segment with every
export format, per-customer lists and a what-if of the CLI. Then every byte the workspace holds
outside the imported customer table (records, events, logs, manifests, exports, model files:
Parquet and npz read column by column, the rest as text) and everything printed is searched for
each raw email and phone. A segment named like a path must still write inside the workspace.
"""

from __future__ import annotations

import io
import json
import pathlib
import sqlite3
import zipfile

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.runs import train_run
from recsys.workspace import Workspace

N_USERS, N_ITEMS = 240, 40


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("privacy")
    rng = np.random.default_rng(5)
    users = rng.integers(0, N_USERS, 5_000)
    items = (users * 7 + rng.integers(0, 5, 5_000)) % N_ITEMS
    pd.DataFrame({"user_id": [f"C{u:04d}" for u in users], "item_id": [f"I{i:03d}" for i in items],
                  "timestamp": pd.Timestamp("2024-03-01") + pd.to_timedelta(np.arange(5_000) * 600, unit="s")}
                 ).to_csv(folder / "events.csv", index=False)
    pd.DataFrame({"item_id": [f"I{i:03d}" for i in range(N_ITEMS)], "title": [f"Item {i}" for i in range(N_ITEMS)],
                  "category": [f"cat{i % 2}" for i in range(N_ITEMS)]}).to_csv(folder / "items.csv", index=False)
    pd.DataFrame({"user_id": [f"C{u:04d}" for u in range(N_USERS)],
                  "email": [f"person.{u}@private-example.org" for u in range(N_USERS)],
                  "phone": [f"+44 7700 9{u:05d}" for u in range(N_USERS)],
                  "country": ["United Kingdom"] * N_USERS,
                  "loyalty_tier": [("gold", "silver")[u % 2] for u in range(N_USERS)]}
                 ).to_csv(folder / "customers.csv", index=False)
    return {"events": folder / "events.csv", "items": folder / "items.csv", "users": folder / "customers.csv",
            "out": folder}


def secrets(files) -> list[str]:
    users = pd.read_csv(files["users"], dtype=str)
    phones = list(users["phone"]) + [p.replace(" ", "") for p in users["phone"]]
    return list(users["email"]) + phones


def texts_of(path: pathlib.Path) -> list[str]:
    """Everything readable in a file: Parquet and npz values, zip members, else the bytes as text."""
    data = path.read_bytes()
    if data[:4] == b"PAR1":
        frame = pd.read_parquet(io.BytesIO(data))
        return [" ".join(map(str, frame.columns))] + [" ".join(map(str, frame[c].tolist())) for c in frame.columns]
    if path.suffix == ".npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return [" ".join(map(str, npz[k].ravel().tolist())) for k in npz.files if npz[k].dtype.kind in "US"]
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [zf.read(n).decode("utf-8", "replace") for n in zf.namelist()]
    return [data.decode("utf-8", "replace")]


def test_no_raw_contact_detail_outside_the_customer_table(files, tmp_path, capsys):
    root = tmp_path / "ws"
    assert main(["import", "--interactions", str(files["events"]), "--items", str(files["items"]),
                 "--users", str(files["users"]), "--name", "shop", "--workspace", str(root)]) == 0
    run = train_run(Workspace(root), "shop", "itemknn")
    outputs = []
    for fmt in ("csv", "xlsx", "parquet", "customer-match", "meta"):
        out = files["out"] / f"segment.{fmt}"
        assert main(["segment", "--workspace", str(root), "--run", run.id, "--target", "category=cat1",
                     "--size", "60", "--min-size", "10", "--keep-buyers", "--format", fmt, "--out", str(out)]) == 0
        outputs += [out, out.with_name(out.name + ".manifest.json")]
    lists = files["out"] / "lists.csv"
    assert main(["lists", "--workspace", str(root), "--run", run.id, "--n", "5", "--min-size", "10",
                 "--out", str(lists)]) == 0
    outputs += [lists, lists.with_name(lists.name + ".manifest.json")]
    printed = capsys.readouterr()

    customer_tables = {p for p in root.joinpath("datasets").rglob("users.parquet")}
    assert len(customer_tables) == 1  # the one place raw contact details are kept
    kept = texts_of(next(iter(customer_tables)))
    assert all(any(secret in t for t in kept) for secret in secrets(files)[:N_USERS + 1]), "the search can see them"
    checked = [p for p in root.rglob("*") if p.is_file() and p not in customer_tables
               and not p.name.startswith("catalog.sqlite")]
    haystacks = {str(p): texts_of(p) for p in checked + outputs}
    con = sqlite3.connect(root / "catalog.sqlite")
    haystacks["catalog"] = [json.dumps(row) for row in con.execute("SELECT * FROM records")]
    haystacks["catalog"] += [json.dumps(row) for row in con.execute("SELECT * FROM datasets")]
    con.close()
    haystacks["stdout+stderr"] = [printed.out, printed.err]
    assert any(p.parent.parent.name == "exports" for p in checked), "exports were searched"
    assert any(p.name == "model" or p.parent.name == "model" for p in checked), "model files were searched"
    for secret in secrets(files):
        leaks = [where for where, texts in haystacks.items() if any(secret in t for t in texts)]
        assert not leaks, f"{secret} found in {leaks}"


def test_a_segment_named_like_a_path_stays_inside_the_workspace(files, tmp_path, capsys):
    root = tmp_path / "ws"
    assert main(["import", "--interactions", str(files["events"]), "--items", str(files["items"]),
                 "--users", str(files["users"]), "--name", "shop", "--workspace", str(root)]) == 0
    run = train_run(Workspace(root), "shop", "popularity")
    before = {p for p in tmp_path.rglob("*")}
    out = tmp_path / "out" / "seg.csv"
    out.parent.mkdir()
    for name in ("../../../escaped", "/tmp/abs-escape", "..", "a/../../b", "C:\\evil\\x"):
        code = main(["segment", "--workspace", str(root), "--run", run.id, "--target", "category=cat0",
                     "--size", "20", "--min-size", "10", "--keep-buyers", "--name", name, "--format", "csv", "--out", str(out)])
        assert code == 0, capsys.readouterr().err
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p.is_relative_to(root) or p.is_relative_to(out.parent) for p in created), created
    assert not pathlib.Path("/tmp/abs-escape").exists()
    exports = Workspace(root).list_records("exports")
    assert len(exports) == 5
    for record in exports:
        assert "/" not in record["file_name"] and "\\" not in record["file_name"] and ".." not in record["file_name"]
