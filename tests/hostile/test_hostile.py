"""Hostile files through the command line and the Data page: a clear message, never a crash.

Each file of :mod:`hostile.corpus` goes through ``python -m recsys import`` (in-process, the real
argument parsing and error handling) and through the Data page's upload in Streamlit's AppTest.
A refused file leaves the workspace exactly as it was (catalog and file listing); an accepted
one adds its dataset and nothing else, with the ids read exactly. The session ends with the line
"N hostile files tried ..., 0 crashed" (see ``conftest.py``).
"""

from __future__ import annotations

import json
import pathlib
import sqlite3

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from hostile.conftest import record
from hostile.corpus import LIMITS_ENV, hostile_files
from recsys.cli import main
from recsys.segments.formats import table_file
from recsys.workspace import Workspace

FILES = hostile_files()
APP = str(pathlib.Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(autouse=True)
def low_limits(monkeypatch):
    for key, value in LIMITS_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    for name, hostile in FILES.items():
        (out / name).write_bytes(hostile.data)
    return out


def snapshot(root: pathlib.Path) -> dict:
    """What a workspace holds: catalog rows and every file but the catalog's own (size, content hash)."""
    import hashlib

    con = sqlite3.connect(root / "catalog.sqlite")
    try:
        datasets = sorted(con.execute("SELECT name, dir, fingerprint, row_counts FROM datasets").fetchall())
        records = sorted(con.execute("SELECT kind, id, data FROM records").fetchall())
    finally:
        con.close()
    files = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith("catalog.sqlite")
    }
    return {"datasets": datasets, "records": records, "files": files}


def dataset_name(file_name: str) -> str:
    return "h-" + file_name.replace(".", "-")


@pytest.fixture(scope="module")
def cli_workspace(tmp_path_factory):
    """A workspace that already holds a dataset, which every hostile import must leave intact."""
    root = tmp_path_factory.mktemp("cli-ws") / "workspace"
    good = root.parent / "good.csv"
    good.write_text("user_id,item_id,timestamp\nu1,i1,2024-01-01\nu2,i2,2024-01-02\nu1,i2,2024-01-03\n")
    assert main(["import", "--interactions", str(good), "--name", "before", "--workspace", str(root)]) == 0
    return root


CLI_FILES = sorted(n for n, h in FILES.items() if h.cli)


@pytest.mark.parametrize("name", CLI_FILES)
def test_cli_import(name, folder, cli_workspace, capsys):
    hostile = FILES[name]
    before = snapshot(cli_workspace)
    capsys.readouterr()
    try:
        code = main(["import", "--interactions", str(folder / name), "--name", dataset_name(name),
                     "--workspace", str(cli_workspace)])
    except BaseException as err:  # noqa: BLE001 - anything escaping main() is a crash
        record("cli", name, f"crashed: {type(err).__name__}: {err}")
        raise
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    after = snapshot(cli_workspace)
    if hostile.refusal:
        record("cli", name, "refused" if code == 2 else f"crashed: exit {code}")
        assert code == 2, out
        first = err.splitlines()[0]
        assert first.startswith("error: ") and name in first and hostile.refusal in first, first
        assert after == before, "a refused import changed the workspace"
    else:
        record("cli", name, "read" if code == 0 else f"crashed: exit {code}: {err}")
        assert code == 0, err
        assert f"imported dataset {dataset_name(name)}" in out
        ws = Workspace(cli_workspace)
        stored = ws.load_table(dataset_name(name), "interactions")
        assert tuple(stored["user_id"]) == hostile.ids
        new = {k: v for k, v in after["files"].items() if k not in before["files"]}
        assert {k: v for k, v in after["files"].items() if k in before["files"]} == before["files"]
        new_names = {pathlib.PurePath(k).name for k in new}
        assert "interactions.parquet" in new_names, new_names
        assert new_names <= {"interactions.parquet", "dropped.parquet", "dataset.json"}, new_names
        assert all(pathlib.PurePath(k).parts[1].startswith(dataset_name(name) + "@") for k in new), new
        assert [d for d in after["datasets"] if d[0] != dataset_name(name)] == before["datasets"]


def test_negative_timestamps_are_kept_with_a_warning(folder, tmp_path, capsys):
    code = main(["validate", "--interactions", str(folder / "negative_timestamps.csv")])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "4 rows read, 4 kept, 0 dropped" in out
    assert "before 1990 (kept)" in out


def test_macros_are_never_stored_and_formulas_are_neutralised_on_export(folder, tmp_path, capsys):
    root = tmp_path / "ws"
    for name in ("macros.xlsm", "formulas.csv"):
        assert main(["import", "--interactions", str(folder / name), "--name", dataset_name(name),
                     "--workspace", str(root)]) == 0
    stored = sorted(p.name for p in root.joinpath("datasets").rglob("*") if p.is_file())
    assert not [n for n in stored if "vba" in n.lower() or n.endswith((".xlsm", ".bin"))], stored
    frame = Workspace(root).load_table(dataset_name("formulas.csv"), "interactions")
    assert tuple(frame["user_id"]) == FILES["formulas.csv"].ids  # stored as data, exactly
    csv_text = table_file(frame, "csv").data.decode()
    import csv
    import io

    cells = [c for row in csv.reader(io.StringIO(csv_text)) for c in row]
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in cells
    assert not [c for c in cells if c[:1] in "=+-@"], cells
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(table_file(frame, "xlsx").data))
    values = [c.value for row in book.active.iter_rows() for c in row]
    assert not [v for v in values if isinstance(v, str) and v[:1] in "=+-@"], values
    assert all(c.data_type != "f" for row in book.active.iter_rows() for c in row)


@pytest.fixture(scope="module")
def data_page(tmp_path_factory):
    """The app on the Data page, Import tab, over an empty workspace; upload limit set to 1 MB."""
    root = tmp_path_factory.mktemp("ui-ws") / "workspace"
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSYS_WORKSPACE", str(root))
    for key, value in LIMITS_ENV.items():
        mp.setenv(key, value)
    old_limit = st_config.get_option("server.maxUploadSize")
    st_config.set_option("server.maxUploadSize", 1)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["_default_checked"] = True  # skip importing the bundled sample
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    yield at, root
    st_config.set_option("server.maxUploadSize", old_limit)
    mp.undo()


@pytest.mark.parametrize("name", sorted(FILES))
def test_data_page_upload(name, data_page):
    at, root = data_page
    hostile = FILES[name]
    before = snapshot(root)
    try:
        at.get("file_uploader")[0].set_value((name, hostile.data, "application/octet-stream"))
        at.run()
    except BaseException as err:  # noqa: BLE001
        record("ui", name, f"crashed: {type(err).__name__}: {err}")
        raise
    if at.exception:
        record("ui", name, f"crashed: {at.exception[0].value}")
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    imports = [b for b in at.button if b.label == "Import"]
    if hostile.refusal:
        record("ui", name, "refused")
        assert any(name in e and hostile.refusal in e for e in errors), errors
        assert not imports, "a refused file must not offer an import"
    else:
        record("ui", name, "read")
        assert not [e for e in errors if name in e], errors
        assert imports and not imports[0].disabled, "an accepted file can be imported"
        frame_sizes = [x.label for x in at.expander if name in x.label]
        assert frame_sizes and f"{len(hostile.ids)} rows" in frame_sizes[0], frame_sizes
    assert snapshot(root) == before, "an upload alone must not change the workspace"
