"""``python -m recsys validate`` / ``import``: exit codes, one-line reasons, JSON report, workspace."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bad_files.corpus import build_corpus
from recsys.cli import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    files = build_corpus(tmp_path_factory.mktemp("bad_files"))
    items = files["good.csv"].parent / "items.csv"
    items.write_text("item_id,title,category\ni1,One,a\ni2,Two,b\n")
    files["items.csv"] = items
    return files


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_good_file(capsys, corpus, tmp_path):
    out_json = tmp_path / "report.json"
    code, out, err = run(capsys, "validate", "--interactions", str(corpus["good.csv"]),
                         "--items", str(corpus["items.csv"]), "--json", str(out_json))
    assert code == 0 and err == ""
    assert "interactions: good.csv: 5 rows read, 5 kept, 0 dropped; user_id <- user_id" in out
    assert ("WARNING [unknown_items] good.csv (interactions), column 'item_id': the items table lacks 1 item_id "
            "used by 1 interaction (kept)") in out
    assert out.strip().splitlines()[-1].startswith("OK: interactions 5 rows")
    data = json.loads(out_json.read_text())
    assert data["ok"] and data["row_counts"] == {"interactions": 5, "items": 2}


@pytest.mark.parametrize("name, reason", [
    ("missing_columns.csv", "no column for user_id and item_id; found columns: a, b, c"),
    ("empty.csv", "empty.csv (interactions): the file is empty"),
    ("junk.bin", "binary file"),
    ("bad_ts.csv", "column 'timestamp': times 2 unreadable (50.0% of rows"),
])
def test_validate_bad_file_exits_2_with_one_line_reason(capsys, corpus, name, reason):
    code, out, err = run(capsys, "validate", "--interactions", str(corpus[name]))
    assert code == 2 and out == ""
    first = err.splitlines()[0]
    assert first.startswith("error: validation failed (1 error): ") and reason in first
    assert any(line.startswith("ERROR [") for line in err.splitlines()[1:])


def test_validate_with_map_json_and_file(capsys, corpus, tmp_path):
    spec = {"interactions": {"user_id": "Kunde", "item_id": "Artikel", "timestamp": "Datum", "value": "Menge"}}
    code, out, _ = run(capsys, "validate", "--interactions", str(corpus["semicolon.csv"]), "--map", json.dumps(spec))
    assert code == 0 and "user_id <- Kunde, item_id <- Artikel, timestamp <- Datum, value <- Menge" in out
    path = tmp_path / "map.json"
    path.write_text(json.dumps(spec))
    assert run(capsys, "validate", "--interactions", str(corpus["semicolon.csv"]), "--map", str(path))[0] == 0
    code, _, err = run(capsys, "validate", "--interactions", str(corpus["semicolon.csv"]), "--map", "{bad")
    assert code == 2 and err.startswith("error: --map: mapping is not valid JSON")
    code, _, err = run(capsys, "validate", "--interactions", str(corpus["good.csv"]), "--map", str(tmp_path / "no"))
    assert code == 2 and err.startswith("error: --map is neither JSON nor a readable file")


def test_validate_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "validate", "--interactions", str(tmp_path / "nope.csv"))
    assert code == 2 and err.startswith("error: --interactions: no such file")


def test_import_and_reimport(capsys, corpus, isolated_workspace):
    from recsys.workspace import Workspace

    argv = ["import", "--interactions", str(corpus["nan_ids.csv"]), "--name", "demo"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "imported dataset demo" in lines
    fingerprint = next(line for line in lines if line.startswith("fingerprint ")).split()[1]
    assert lines[-1] == "rows: interactions 3, dropped_interactions 6"
    info = Workspace(isolated_workspace).dataset_info("demo")
    assert info.fingerprint == fingerprint and info.row_counts["interactions"] == 3
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("error: import failed:") and "already exists" in err
    assert run(capsys, *argv, "--overwrite")[0] == 0


def test_import_refuses_bad_data(capsys, corpus, tmp_path):
    from recsys.workspace import Workspace

    code, _, err = run(capsys, "import", "--interactions", str(corpus["bad_ts.csv"]), "--name", "bad",
                       "--workspace", str(tmp_path / "ws"))
    assert code == 2 and err.startswith("error: validation failed")
    assert not Workspace(tmp_path / "ws").has_dataset("bad")


def test_bad_dataset_name(capsys, corpus):
    code, _, err = run(capsys, "import", "--interactions", str(corpus["good.csv"]), "--name", "../evil")
    assert code == 2 and "invalid dataset name" in err


def test_help_texts(capsys):
    for cmd in ("validate", "import"):
        with pytest.raises(SystemExit) as info:
            main([cmd, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert "--interactions" in out and "--map" in out and "auto-detected" in out


def test_real_process_exit_code(corpus, repo_root):
    proc = subprocess.run([sys.executable, "-m", "recsys", "validate", "--interactions", str(corpus["empty.csv"])],
                          cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0].startswith("error: validation failed")
