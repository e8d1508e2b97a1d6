"""The Data page's "Import from a cluster path (Spark)" form, through Streamlit's AppTest."""

from __future__ import annotations

import pathlib

import pytest

from tests.spark.planted import planted_events

APP = str(pathlib.Path(__file__).resolve().parents[2] / "app.py")


def test_mapping_box_accepts_json_objects_and_names_what_is_wrong():
    from ui.spark_import import parse_mapping

    assert parse_mapping("  ") == {}
    assert parse_mapping('{"interactions": {"user_id": "who"}}') == {"interactions": {"user_id": "who"}}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_mapping('{"interactions": ')
    with pytest.raises(ValueError, match="must look like"):
        parse_mapping('{"interactions": "who"}')


@pytest.mark.spark
def test_form_imports_a_cluster_path_and_reports_bad_input_in_one_line(spark, tmp_path, isolated_workspace):
    from streamlit.testing.v1 import AppTest

    from recsys.workspace import Workspace

    events = tmp_path / "events.csv"
    planted_events(n_users=60, n_items=30, n_groups=3).rename(columns={"customer_id": "who"}).to_csv(events,
                                                                                                    index=False)
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(h.value == "Import from a cluster path (Spark)" for h in at.subheader)

    def submit(**values):
        for key, value in values.items():
            at.text_input(key=key).set_value(value) if key != "spark-mapping" else at.text_area(key=key).set_value(value)
        at.button(key="FormSubmitter:spark-import-Import with Spark").click()
        at.run()
        assert not at.exception, [e.value for e in at.exception]

    submit(**{"spark-events": str(tmp_path / "absent.parquet"), "spark-name": "big", "spark-master": "local[2]"})
    assert [e.value for e in at.error] and "cannot read" in at.error[0].value
    assert "Traceback" not in at.error[0].value and "\n" not in at.error[0].value

    submit(**{"spark-events": str(events), "spark-mapping": '{"interactions": {"user_id": "nope"}}'})
    assert "uses column 'nope' for user_id" in at.error[0].value

    submit(**{"spark-mapping": '{"interactions": {"user_id": "who"}}'})
    assert not at.error, [e.value for e in at.error]
    info = Workspace(isolated_workspace).dataset_info("big")
    assert info.engine == "spark" and info.row_counts["interactions"] == len(planted_events(60, 30, 3))
    assert at.session_state["current_dataset"] == "big"
    assert any("Imported **big** with Spark" in s.value for s in at.success)
