"""Segments on the bundled sample: held-out lift, saved and re-run segments, exports, CLI and page.

One workspace with the imported sample and an EASE run trained on the events before a temporal
cut-off (the last 10% of events, about December) is shared by the module; measured figures are
printed (run with -s to see them).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pathlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from apptest_pages import open_page

from recsys.cli import main as cli_main
from recsys.data.samples import import_sample
from recsys.runs import load_run, train_run
from recsys.segments.audience import random_members
from recsys.segments.manifest import Manifest
from recsys.segments.privacy import SegmentTooSmall
from recsys.segments.rules import SegmentRule, Target
from recsys.segments.store import (build_segment, export_lists, export_segment, list_exports, list_segments,
                                   load_segment, read_export, rerun_segment, save_segment)
from recsys.segments.lists import ListOptions, customer_lists
from recsys.segments.views import engaged_customers, run_holdout_lift, segment_lift
from recsys.workspace import Workspace

DATASET = "sample-content-platform"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("segments-workspace")
    ws = Workspace(root)
    import_sample("content-platform", ws)
    run = train_run(ws, DATASET, "ease", split="temporal", split_params={"test_fraction": 0.1})
    return SimpleNamespace(ws=ws, root=root, run=run.id, loaded=load_run(ws, run.id, with_split=True))


def cooking(run_id: str, **kw) -> SegmentRule:
    return SegmentRule(**{"name": "Cooking fans", "run_id": run_id, "target": Target(category="Cooking"),
                          "size": 500, **kw})


def test_lift_is_positive_for_the_model_and_about_zero_for_random_segments(trained):
    result, audience = run_holdout_lift(trained.ws, cooking(trained.run), n_random=300)
    loaded = trained.loaded
    after = loaded.data.subset(loaded.data.frame["timestamp"].to_numpy() >= loaded.split.params["cutoff"])
    engaged = engaged_customers(after, audience.target_items)
    random_lifts = [segment_lift(random_members(audience, loaded.data, seed=s)["user_idx"].to_numpy(),
                                 audience.pool, engaged, n_random=0).lift for s in range(30)]
    print(f"\nEASE Cooking segment (500 of {result.n_pool:,} eligible): engaged {result.segment_rate:.1%} vs "
          f"{result.baseline_rate:.1%} for random same-size segments -> lift {result.lift:+.1%} "
          f"(random 95% band {result.random_low:+.1%}..{result.random_high:+.1%}, p={result.p_value:.4f}); "
          f"30 random segments: mean lift {np.mean(random_lifts):+.1%}, range {min(random_lifts):+.1%}.."
          f"{max(random_lifts):+.1%}")
    assert result.lift > 0.5 and result.lift > result.random_high
    assert result.p_value < 0.01
    assert abs(np.mean(random_lifts)) < 0.06
    assert max(abs(v) for v in random_lifts) < 0.35
    assert result.period["start"] >= loaded.split.params["cutoff"]


def test_saved_segments_rerun_deterministically(trained):
    ws = trained.ws
    audience = build_segment(ws, cooking(trained.run, affinity="rank"))
    segment_id = save_segment(ws, audience)
    rule, members = load_segment(ws, segment_id)
    assert rule == audience.rule
    pd.testing.assert_frame_equal(members, audience.members[["user_id", "affinity", "rank"]])
    again, new_id = rerun_segment(ws, segment_id)
    pd.testing.assert_frame_equal(again.members, audience.members)
    assert ws.get_record("segments", new_id)["parent"] == segment_id
    assert set(list_segments(ws, dataset=DATASET)["segment_id"]) >= {segment_id, new_id}
    first = export_segment(ws, audience, "csv", segment_id=segment_id)
    second = export_segment(ws, again, "csv", segment_id=new_id)
    assert first.data == second.data and first.manifest.file_sha256 == second.manifest.file_sha256


def test_customer_match_export_hashes_the_members_emails(trained):
    ws = trained.ws
    audience = build_segment(ws, cooking(trained.run))
    saved = export_segment(ws, audience, "customer-match")
    lines = saved.data.decode("utf-8").split("\n")
    assert lines[0] == "Email,Phone,First Name,Last Name,Country,Zip"
    users = trained.loaded.data.user_features
    top = audience.members.iloc[0]
    email = users.loc[top["user_idx"], "email"]
    assert lines[1].split(",")[0] == hashlib.sha256(email.strip().lower().encode()).hexdigest()
    assert lines[1].split(",")[4] in {"US", "GB", "DE", "FR", "ES", "IT", "NL", "JP", "AU", "CA"}
    assert saved.manifest.row_count == audience.size == len(lines) - 2
    assert saved.manifest.stats["n_unknown_country"] == 0
    stored = read_export(ws, saved.id)
    assert stored.data == saved.data and stored.manifest == saved.manifest and stored.manifest.matches(stored.data)
    text = stored.manifest.to_json()
    assert "@example.com" not in text and email not in text
    assert stored.manifest.dataset_fingerprint == ws.dataset_info(DATASET).fingerprint
    assert Manifest.from_json(text).rule == audience.rule.to_dict()
    assert saved.id in set(list_exports(ws)["export_id"])


def test_small_segments_are_refused_with_a_clear_message(trained, tmp_path, capsys):
    audience = build_segment(trained.ws, cooking(trained.run, size=40))
    with pytest.raises(SegmentTooSmall, match="40 customer.*minimum of 100"):
        export_segment(trained.ws, audience, "meta")
    code = cli_main(["segment", "--workspace", str(trained.root), "--run", trained.run, "--target", "category=Cooking",
                     "--size", "40", "--format", "meta", "--out", str(tmp_path / "small.csv")])
    assert code == 2 and "fewer than the minimum of 100" in capsys.readouterr().err
    assert not (tmp_path / "small.csv").exists()


def test_cli_segment_and_lists_write_files_with_manifests(trained, tmp_path, capsys):
    out = tmp_path / "outdoor.csv"
    code = cli_main(["segment", "--workspace", str(trained.root), "--run", trained.run,
                     "--target", "category = Outdoor and price_tier = premium", "--size", "300",
                     "--customers", "loyalty_tier != bronze", "--format", "meta", "--out", str(out),
                     "--pseudonymous"])
    assert code == 0, capsys.readouterr().err
    header, *rows = out.read_text(encoding="utf-8").splitlines()
    assert header == "EMAIL,PHONE,FN,LN,ZIP,CT,ST,COUNTRY,EXTERN_ID" and len(rows) == 300
    assert all(len(r.split(",")[-1]) == 64 and not r.split(",")[-1].startswith("C") for r in rows), "HMAC ids"
    manifest = Manifest.from_json((tmp_path / "outdoor.csv.manifest.json").read_bytes())
    assert manifest.matches(out.read_bytes()) and manifest.settings["pseudonymous_ids"] is True
    lists_out = tmp_path / "lists.xlsx"
    code = cli_main(["lists", "--workspace", str(trained.root), "--run", trained.run, "--n", "5", "--out",
                     str(lists_out), "--rerank", "mmr", "--strength", "0.5", "--max-per-category", "2"])
    assert code == 0, capsys.readouterr().err
    frame = pd.read_excel(lists_out)
    assert list(frame.columns) == ["user_id", "rank", "item_id", "title", "category", "score", "reason"]
    assert frame.groupby(["user_id", "category"]).size().max() <= 2
    lists_manifest = json.loads((tmp_path / "lists.xlsx.manifest.json").read_text())
    assert lists_manifest["reranker"]["method"] == "mmr" and lists_manifest["format"] == "xlsx"


def test_lists_export_of_a_segment(trained):
    loaded = trained.loaded
    audience = build_segment(trained.ws, cooking(trained.run))
    lists = customer_lists(loaded.model, loaded.data, ListOptions(n=3, include_categories=("Cooking",)),
                           audience.members["user_idx"].to_numpy())
    saved = export_lists(trained.ws, lists, "csv", loaded=loaded, name="cooking-lists")
    cells = list(csv.reader(io.StringIO(saved.data.decode("utf-8"), newline="")))
    assert cells[0] == ["user_id", "rank", "item_id", "title", "category", "score", "reason"]
    assert {row[4] for row in cells[1:]} == {"Cooking"} and len(cells) - 1 == 3 * audience.size


def capture_downloads(monkeypatch) -> dict[str, bytes]:
    """Record the bytes Streamlit stores for each download button (AppTest keeps no media server)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data if isinstance(path_or_data, bytes) else pathlib.Path(path_or_data).read_bytes()
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return files


def test_segments_page_builds_shows_masked_emails_and_downloads(trained, monkeypatch):
    monkeypatch.setenv("RECSYS_WORKSPACE", str(trained.root))
    files = capture_downloads(monkeypatch)
    at = open_page("pages/segments.py")
    assert at.title[0].value == "Segments"
    at.button(key="FormSubmitter:segment-form-Build segment").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Segment saved with 500 customers" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) >= 2, "affinity distribution and composition"
    members = at.dataframe[0].value
    assert members["email"].str.contains("•••").all() and not members["email"].str.contains(r"^[^•]+@").any()
    at.button(key="prepare-export").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    download = next(d for d in at.get("download_button") if "segment-export-file" in d.proto.id)
    data = files[download.proto.url.rsplit("/", 1)[-1].split(".")[0]]
    assert data.decode("utf-8").split("\n", 1)[0] == '"user_id","rank","affinity","age_group","gender","country",' \
                                                      '"loyalty_tier","signup_date","preferred_device"'
    manifest_button = next(d for d in at.get("download_button") if "segment-export-manifest" in d.proto.id)
    manifest = Manifest.from_json(files[manifest_button.proto.url.rsplit("/", 1)[-1].split(".")[0]])
    assert manifest.matches(data) and manifest.row_count == 500
    at.button(key="lift").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any(t.startswith("Held-out lift +") for t in titles), titles
    before = set(list_segments(trained.ws)["segment_id"])
    at.button(key="rerun").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    new = set(list_segments(trained.ws)["segment_id"]) - before
    assert len(new) == 1 and any("re-run" in s.value for s in at.success)
