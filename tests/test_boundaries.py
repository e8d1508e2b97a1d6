"""Architecture boundaries: the engine never imports Streamlit; nothing unpickles."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

IMPORT_ALL = """
import importlib, pkgutil, sys
import recsys
from recsys.spark.errors import SparkUnavailable
for mod in pkgutil.walk_packages(recsys.__path__, "recsys."):
    if mod.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(mod.name)
    except SparkUnavailable:  # the optional Spark extra is not installed: nothing else may fail
        pass
leaked = sorted(m for m in sys.modules if m == "streamlit" or m.startswith("streamlit."))
print("LEAKED", leaked)
"""


def test_engine_never_imports_streamlit():
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "LEAKED []" in out.stdout, out.stdout


def test_no_pickle_loading_anywhere():
    pattern = re.compile(r"pickle\.loads?\(|torch\.load\((?![^)]*weights_only=True)|allow_pickle=True")
    offenders = []
    for folder in ("recsys", "ui", "pages"):
        for path in (REPO / folder).rglob("*.py"):
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_spark_worker_helpers_do_not_import_the_model_stack():
    # Spark's Python workers import these to score; executors need not have torch installed.
    code = ("import sys, importlib.util, recsys.segments.ranking\n"
            "if importlib.util.find_spec('pyspark'):\n    import recsys.spark.scoring\n"  # needs the extra
            "print(sorted(m for m in ('torch', 'streamlit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
