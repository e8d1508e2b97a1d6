"""Shared fixtures: every test gets its own on-disk workspace, never the user's."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path, monkeypatch):
    """Point RECSYS_WORKSPACE at a fresh folder so no test touches ./workspace."""
    root = tmp_path / "workspace"
    monkeypatch.setenv("RECSYS_WORKSPACE", str(root))
    return root


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return REPO
