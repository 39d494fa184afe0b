"""Ingest: schema round trip, downsizing, 255, bad inputs, nothing half-written, skip_bad, no-op, determinism."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_builders import artefact_row, block_image, block_mask, encode, write_artefact_parquet, write_csv_folder

from heritage_core.cli import main as cli_main
from heritage_core.data.cache import INDEX_COLUMNS, open_cache
from heritage_core.data.ingest import ingest
from heritage_core.errors import ConfigError, DataError
from heritage_core.runs import read_json
from heritage_core.taxonomy import IGNORE_INDEX, default_taxonomy

# Item "wide": (40, 100) px of 2x2 blocks, cached at max side 50 -> (20, 50), one block per pixel.
WIDE_GREY = (np.arange(20 * 50).reshape(20, 50) % 251).astype(np.uint8)
WIDE_LABELS = np.tile(np.array([0, 1, 3, 15, 255], np.uint8), (20, 10))
# Item "small": (30, 20) px, smaller than max side: cached as is (never upsampled).
SMALL_GREY = np.full((15, 10), 77, np.uint8)
SMALL_LABELS = np.array([[0, 255], [10, 2]], np.uint8).repeat(8, 0).repeat(5, 1)[:15]  # (15, 10)


def _good_rows() -> list[dict]:
    return [
        artefact_row("wide", block_image(WIDE_GREY, 2), block_mask(WIDE_LABELS, 2), "Paper", "Line art"),
        artefact_row("small", block_image(SMALL_GREY, 2), block_mask(SMALL_LABELS, 2), "Glass", "Photographic depiction"),
        artefact_row("photo", np.full((64, 48, 3), 200, np.uint8), np.zeros((64, 48), np.uint8), "Film emulsion",
                     "Photographic depiction", image_format="JPEG"),
    ]


def _source(tmp_path: Path, rows: list[dict] | None = None, **kwargs) -> Path:
    root = tmp_path / "artefact"
    rows = rows if rows is not None else _good_rows()
    write_artefact_parquet(root / "data" / "train-00000-of-00001.parquet", rows, **kwargs)
    return root


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_round_trip_parquet_schema(tmp_path: Path) -> None:
    source = _source(tmp_path)
    report = ingest(source, tmp_path / "cache", max_side_px=50, progress=False)
    assert (report.n_items, report.n_rejected, report.noop, report.label_levels) == (3, 0, False, ["fine"])
    assert "wrote 3 items" in str(report) and report.fingerprint[:12] in str(report)
    cache = open_cache(tmp_path / "cache")
    assert cache.ids == ["wide", "small", "photo"] and cache.fingerprint == report.fingerprint
    # wide: 2x2 blocks -> area average recovers the block values exactly; nearest keeps every label.
    assert np.array_equal(cache.load_image("wide"), block_image(WIDE_GREY, 1))
    assert np.array_equal(cache.load_mask("wide"), WIDE_LABELS)
    # small: long side 30 <= 50, stored as is.
    assert np.array_equal(cache.load_mask("small"), block_mask(SMALL_LABELS, 2))
    # photo: (64, 48) -> (50, 38): 48 * 50 / 64 = 37.5 rounds to 38; aspect kept within 1 px.
    photo = cache.load_image("photo")
    assert photo.shape == (50, 38, 3) and abs(int(photo.mean()) - 200) <= 2
    index = cache.index
    assert list(index.columns) == list(INDEX_COLUMNS)
    sizes = index[["orig_height", "orig_width", "height", "width"]].astype(int).values.tolist()
    assert sizes == [[40, 100, 20, 50], [30, 20, 30, 20], [64, 48, 50, 38]]
    shard = source / "data" / "train-00000-of-00001.parquet"
    assert index["source"].tolist() == [f"{shard}#row {i}" for i in range(3)]
    row = _good_rows()[0]
    assert index.loc["wide", "sha256"] == hashlib.sha256(row["image"]["bytes"] + row["annotation"]["bytes"]).hexdigest()
    assert index.loc["wide", ["group", "material", "content", "type", "label_level"]].tolist() == [
        "wide", "Paper", "Line art", "Physical", "fine"]
    meta = read_json(tmp_path / "cache" / "dataset.json")
    assert {"fingerprint", "n_items", "max_side_px", "source", "label_levels", "format"} <= set(meta)
    assert (meta["n_items"], meta["max_side_px"], meta["source"]) == (3, 50, str(source.resolve()))
    assert meta["synthetic"] is None  # published-schema shards without the generator's mark are real data
    assert not (tmp_path / "cache" / "rejected.csv").exists()
    assert _leftovers(tmp_path) == []


def test_ignore_survives_ingest_and_taxonomy(tmp_path: Path) -> None:
    ingest(_source(tmp_path), tmp_path / "cache", max_side_px=50, progress=False)
    mask = open_cache(tmp_path / "cache").load_mask("wide")
    ignore = mask == IGNORE_INDEX
    assert ignore.sum() == (WIDE_LABELS == 255).sum() == 200
    taxonomy = default_taxonomy()
    for level in ("fine", "coarse", "binary"):
        mapped = taxonomy.map_labels(mask, "fine", level)
        assert np.array_equal(mapped == IGNORE_INDEX, ignore)
    # Dust (3) and Material loss (1) become damage, Clean stays 0, Lightleak (15) is damage too.
    assert taxonomy.map_labels(np.array([0, 1, 3, 15, 255], np.uint8), "fine", "binary").tolist() == [0, 1, 1, 1, 255]


def _bad_image(rows: list[dict]) -> None:
    rows[1]["image"]["bytes"] = b"\x89PNG\r\n\x1a\n truncated"


def _bad_values(rows: list[dict]) -> None:
    rows[1]["annotation"]["bytes"] = encode(np.array([[0, 17], [42, 255]], np.uint8).repeat(15, 0).repeat(10, 1))


def _size_mismatch(rows: list[dict]) -> None:
    rows[1]["annotation"]["bytes"] = encode(np.zeros((30, 21), np.uint8))


def _duplicate(rows: list[dict]) -> None:
    rows[2]["id"] = "small"


def _empty_content(rows: list[dict]) -> None:
    rows[1]["content"] = ""


def _empty_material(rows: list[dict]) -> None:
    rows[1]["material"] = None


@pytest.mark.parametrize(
    ("spoil", "row", "expected"),
    [
        (_bad_image, 1, r"image cannot be decoded"),
        (_bad_values, 1, r"annotation has values \{17, 42\}; allowed at label level 'fine' are 0-15 and 255"),
        (_size_mismatch, 1, r"image is 20x30 px but its annotation is 21x30 px"),
        (_duplicate, 2, r"id 'small' repeats the id of the item at .*#row 1"),
        (_empty_content, 1, r"content is empty"),
        (_empty_material, 1, r"material is empty"),
    ],
)
def test_bad_item_fails_naming_it_and_writes_nothing(tmp_path: Path, spoil, row: int, expected: str) -> None:
    rows = _good_rows()
    spoil(rows)
    source = _source(tmp_path, rows)
    out = tmp_path / "cache"
    with pytest.raises(DataError, match=expected) as info:
        ingest(source, out, max_side_px=50, progress=False)
    message = str(info.value)
    assert f"train-00000-of-00001.parquet#row {row} (id '{rows[row]['id']}')" in message
    assert "--skip-bad" in message
    assert not out.exists() and _leftovers(tmp_path) == []


def test_missing_column_is_named(tmp_path: Path) -> None:
    source = _source(tmp_path, drop=("annotation",))
    with pytest.raises(DataError, match=r"lacks the required column\(s\) \['annotation'\]; columns found: \['id', 'image'"):
        ingest(source, tmp_path / "cache", max_side_px=50, progress=False)
    assert not (tmp_path / "cache").exists()


def test_missing_file_and_binary_values_in_folders(tmp_path: Path) -> None:
    item = {"id": "a", "material": "Paper", "content": "Line art", "image": np.zeros((4, 4, 3), np.uint8),
            "mask": np.zeros((4, 4), np.uint8)}
    root = write_csv_folder(tmp_path / "csv", [item, {**item, "id": "b", "mask": None}])
    expected = r"metadata.csv#row 1 \(id 'b'\): file 'masks/b.png' \(column 'annotation_path'\) cannot be read"
    with pytest.raises(DataError, match=expected):
        ingest(root, tmp_path / "cache", max_side_px=64, progress=False)
    two = block_mask(np.array([[0, 1], [2, 1]]), 2)
    film = write_csv_folder(tmp_path / "film", [{**item, "mask": two}], image_column="image", mask_column="mask")
    expected = r"\(id 'a'\): annotation has values \{2\}; allowed at label level 'binary' are 0, 1 and 255"
    with pytest.raises(DataError, match=expected):
        ingest(film, tmp_path / "cache", max_side_px=64, progress=False)
    assert not (tmp_path / "cache").exists()


def test_failure_leaves_previous_cache_unchanged(tmp_path: Path) -> None:
    source = _source(tmp_path)
    out = tmp_path / "cache"
    ingest(source, out, max_side_px=50, progress=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    rows = _good_rows()
    _bad_values(rows)
    write_artefact_parquet(source / "data" / "train-00000-of-00001.parquet", rows)
    with pytest.raises(DataError, match="annotation has values"):
        ingest(source, out, max_side_px=50, progress=False)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and _leftovers(tmp_path) == []


def test_skip_bad_records_rejections(tmp_path: Path) -> None:
    rows = _good_rows()
    _bad_values(rows)
    source = _source(tmp_path, rows)
    report = ingest(source, tmp_path / "cache", max_side_px=50, skip_bad=True, progress=False)
    assert (report.n_items, report.n_rejected) == (2, 1) and "1 rejected" in str(report)
    assert open_cache(tmp_path / "cache").ids == ["wide", "photo"]
    rejected = pd.read_csv(tmp_path / "cache" / "rejected.csv")
    assert list(rejected.columns) == ["id", "source", "reason"]
    assert rejected["id"].tolist() == ["small"] and rejected["source"][0].endswith("#row 1")
    assert rejected["reason"][0].startswith("annotation has values {17, 42}")
    # Without --skip-bad the old (incomplete) cache is not taken as up to date: the run fails again.
    with pytest.raises(DataError, match="annotation has values"):
        ingest(source, tmp_path / "cache", max_side_px=50, progress=False)


def test_all_rejected_is_an_error(tmp_path: Path) -> None:
    rows = _good_rows()
    for r in rows:
        r["material"] = ""
    with pytest.raises(DataError, match=r"all 3 items .* were rejected"):
        ingest(_source(tmp_path, rows), tmp_path / "cache", max_side_px=50, skip_bad=True, progress=False)
    assert not (tmp_path / "cache").exists() and _leftovers(tmp_path) == []


def test_rerun_is_a_noop_until_source_or_size_changes(tmp_path: Path) -> None:
    source = _source(tmp_path)
    out = tmp_path / "cache"
    first = ingest(source, out, max_side_px=50, progress=False)
    index_mtime = (out / "index.csv").stat().st_mtime_ns
    again = ingest(source, out, max_side_px=50, progress=False)
    assert again.noop and again.fingerprint == first.fingerprint and "no-op" in str(again)
    assert (out / "index.csv").stat().st_mtime_ns == index_mtime
    assert not ingest(source, out, max_side_px=40, progress=False).noop
    shard = source / "data" / "train-00000-of-00001.parquet"
    stat = shard.stat()
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = ingest(source, out, max_side_px=40, progress=False)
    fresh = ingest(source, tmp_path / "c2", max_side_px=40, progress=False)
    assert not touched.noop and touched.fingerprint == fresh.fingerprint


def test_fingerprint_is_deterministic(tmp_path: Path) -> None:
    source = _source(tmp_path)
    a = ingest(source, tmp_path / "a", max_side_px=50, progress=False)
    b = ingest(source, tmp_path / "b", max_side_px=50, progress=False)
    assert a.fingerprint == b.fingerprint
    for sub in ("images", "masks"):
        for path in sorted((tmp_path / "a" / sub).iterdir()):
            assert path.read_bytes() == (tmp_path / "b" / sub / path.name).read_bytes()
    c = ingest(source, tmp_path / "c", max_side_px=40, progress=False)
    assert c.fingerprint != a.fingerprint  # the cached size is part of the identity


def test_out_guards_and_parameters(tmp_path: Path) -> None:
    source = _source(tmp_path)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not an ingest cache"):
        ingest(source, precious, max_side_px=50, progress=False)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(DataError, match="overlaps the source"):
        ingest(source, source / "cache", max_side_px=50, progress=False)
    with pytest.raises(ConfigError, match="max_side_px is 8"):
        ingest(source, tmp_path / "cache", max_side_px=8, progress=False)


def test_metadata_csv_folder_with_mixed_levels(tmp_path: Path) -> None:
    image = block_image(np.array([[10, 20], [30, 40]]), 40)  # (80, 80)
    items = [
        {"id": "p1", "material": "Paper", "content": "Line art", "type": "Physical", "group": "g", "label_level": "fine",
         "image": image, "mask": block_mask(np.array([[0, 8], [255, 8]]), 40)},
        {"id": "p1 copy", "material": "Paper", "content": "Line art", "type": "Physical", "group": "g",
         "label_level": "binary", "image": image, "mask": block_mask(np.array([[0, 1], [255, 1]]), 40)},
    ]
    root = write_csv_folder(tmp_path / "csv", items)
    report = ingest(root, tmp_path / "cache", max_side_px=40, progress=False)
    assert report.kind == "metadata_csv" and report.label_levels == ["binary", "fine"]
    cache = open_cache(tmp_path / "cache")
    assert cache.index["group"].tolist() == ["g", "g"]
    assert cache.index.loc["p1 copy", "file"].startswith("h")  # the space makes the id unsafe as a file name
    assert np.array_equal(cache.load_mask("p1"), block_mask(np.array([[0, 8], [255, 8]]), 20))
    assert np.array_equal(cache.load_image("p1 copy"), block_image(np.array([[10, 20], [30, 40]]), 20))
    assert cache.label_level("p1 copy") == "binary"


def test_film_folder_ingests_as_binary(film_dir: Path, tmp_path: Path) -> None:
    report = ingest(film_dir, tmp_path / "film", max_side_px=512, progress=False)
    assert (report.kind, report.n_items, report.label_levels) == ("binary_folder", 4, ["binary"])
    cache = open_cache(tmp_path / "film")
    meta = pd.read_csv(film_dir / "metadata.csv").set_index("id")
    for record in cache.records():
        assert record.label_level == "binary" and max(record.image.shape[:2]) == 512
        assert set(np.unique(record.mask).tolist()) <= {0, 1}
        fraction = float((record.mask == 1).mean())
        # Nearest downsizing by ~2.7x keeps the damage fraction in expectation; specks of 1-3 px make it noisy.
        assert 0.5 < fraction / meta.loc[record.id, "damage_fraction"] < 2.0
        orig = cache.index.loc[record.id, ["orig_width", "orig_height"]].astype(int).tolist()
        assert orig == meta.loc[record.id, ["width", "height"]].tolist()


def test_cli_ingest_and_data_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _source(tmp_path)
    assert cli_main(["ingest", str(source), "--out", str(tmp_path / "cache"), "--max-side", "50", "--quiet"]) == 0
    assert "wrote 3 items" in capsys.readouterr().out
    assert cli_main(["data", "check", str(source), "--quiet"]) == 0
    assert "data check OK" in capsys.readouterr().out
    rows = _good_rows()
    _bad_values(rows)
    bad = _source(tmp_path / "bad", rows)
    assert cli_main(["data", "check", str(bad), "--quiet"]) == 1
    assert "annotation has values {17, 42}" in capsys.readouterr().out
    assert cli_main(["ingest", str(bad), "--out", str(tmp_path / "c2"), "--max-side", "50", "--quiet"]) == 2
    assert "DataError:" in capsys.readouterr().err and not (tmp_path / "c2").exists()


def test_synthetic_cache_fixture_records_that_it_is_synthetic(synthetic_cache: Path) -> None:
    cache = open_cache(synthetic_cache)
    assert len(cache) == 48 and set(cache.index["label_level"]) == {"fine"}
    # the report reads this to keep synthetic numbers from being presented as ARTeFACT's
    assert cache.meta["synthetic"] == {"n": 48, "seed": 0, "max_side_px": 128, "min_mark_px": 1}
    for record in cache.records(cache.ids[:8]):
        assert max(record.mask.shape) <= 128 and record.image.shape[:2] == record.mask.shape
        assert set(np.unique(record.mask).tolist()) <= {*range(16), 255}


def test_cache_loads_by_id_and_names_an_unknown_one(synthetic_cache: Path) -> None:
    cache = open_cache(synthetic_cache)
    item_id = cache.ids[3]
    stem = cache.index.loc[item_id, "file"]
    np.testing.assert_array_equal(cache.load_image(item_id), np.load(synthetic_cache / "images" / f"{stem}.npy"))
    np.testing.assert_array_equal(cache.load_mask(item_id, mmap=True), np.load(synthetic_cache / "masks" / f"{stem}.npy"))
    for load in (cache.load_image, cache.load_mask, cache.label_level):
        with pytest.raises(DataError, match="has no item with id 'nope'"):
            load("nope")
