"""Atomic writes, parameter hashes and provenance helpers."""
from __future__ import annotations


import pytest

from heritage_core.runs import atomic_dir, atomic_write_json, params_hash, read_json


def test_atomic_write_json_round_trip_and_no_temp_left(tmp_path) -> None:
    path = atomic_write_json(tmp_path / "a" / "x.json", {"b": 1, "a": [1, 2]})
    assert read_json(path) == {"a": [1, 2], "b": 1}
    assert list(path.read_text().splitlines())[1].strip().startswith('"a"')  # sorted keys
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_atomic_dir_failure_leaves_previous_version(tmp_path) -> None:
    target = tmp_path / "cache"
    with atomic_dir(target) as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "v").write_text("2")
        raise RuntimeError("validation failed half-way")
    assert (target / "v").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_atomic_dir_replaces(tmp_path) -> None:
    target = tmp_path / "c"
    for v in ("1", "2"):
        with atomic_dir(target) as tmp:
            (tmp / "v").write_text(v)
    assert (target / "v").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_params_hash_ignores_key_order_but_not_values() -> None:
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})
    assert len(params_hash({"a": 1})) == 12


def test_atomic_outputs_get_usual_permissions_not_private(tmp_path) -> None:
    import os
    import stat

    mask = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "x.json", {})
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "v").write_text("1")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
