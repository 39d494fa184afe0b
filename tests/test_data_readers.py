"""Readers and validation: size arithmetic, decoding, source detection, per-item checks, check_source."""
from __future__ import annotations

import numpy as np
import pytest
from data_builders import (
    artefact_row,
    block_mask,
    encode,
    write_artefact_parquet,
    write_csv_folder,
)

from heritage_core.data import readers
from heritage_core.data.readers import Rejection, decode_image, decode_mask, open_source, target_size
from heritage_core.data.validate import ItemValidator, allowed_labels, check_source, label_counts, mask_problem
from heritage_core.errors import DataError


@pytest.mark.parametrize(
    ("hw", "max_side", "expected"),
    [
        ((1000, 2000), 512, (256, 512)),  # exact halving of the aspect 1:2
        ((333, 500), 100, (67, 100)),  # 333 * 0.2 = 66.6 rounds to 67
        ((300, 200), 512, (300, 200)),  # smaller: never upsampled
        ((512, 100), 512, (512, 100)),  # equal: unchanged
        ((3, 1001), 100, (1, 100)),  # 0.3 px rounds to 0, kept at 1
        ((700, 500), None, (700, 500)),
    ],
)
def test_target_size(hw: tuple[int, int], max_side: int | None, expected: tuple[int, int]) -> None:
    assert target_size(*hw, max_side) == expected


def test_decode_image_area_downsizing_png() -> None:
    # A (2, 4) grey PNG halved to (1, 2): each output pixel is the mean of a 2x2 block (BOX / area).
    grey = np.array([[0, 100, 10, 10], [200, 60, 10, 30]], dtype=np.uint8)
    out, stored = decode_image(encode(grey), max_side_px=2)
    assert stored == (2, 4)
    assert out.shape == (1, 2, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [90, 15]  # (0+100+200+60)/4, (10+10+10+30)/4
    assert np.array_equal(out[..., 0], out[..., 2])  # grey expands to equal RGB channels


def test_decode_image_jpeg_draft_matches_exact_resize() -> None:
    yy, xx = np.mgrid[0:1200, 0:1600]
    smooth = np.stack([xx * 255 // 1599, yy * 255 // 1199, (xx + yy) * 255 // 2798], axis=2).astype(np.uint8)
    out, stored = decode_image(encode(smooth, "JPEG"), max_side_px=200)
    assert stored == (1200, 1600)
    assert out.shape == (150, 200, 3)
    reference = smooth.reshape(150, 8, 200, 8, 3).mean(axis=(1, 3))  # exact 8x8 area average
    assert np.abs(out.astype(float) - reference).mean() < 2.0


def test_decode_image_rejects_garbage() -> None:
    with pytest.raises(DataError, match=r"image file 'x.png' cannot be decoded"):
        decode_image(b"not an image at all", 64, "image file 'x.png'")
    truncated = encode(np.zeros((64, 64, 3), np.uint8) + 90, "JPEG")[:200]
    with pytest.raises(DataError, match="cannot be decoded"):
        decode_image(truncated, 64)


def test_pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DataError, match=r"image is 20x10 px .* more than"):
        decode_image(encode(np.zeros((10, 20, 3), np.uint8)), 8)
    with pytest.raises(DataError, match=r"annotation is 20x10 px"):
        decode_mask(encode(np.zeros((10, 20), np.uint8)))


def test_decode_mask_modes() -> None:
    labels = np.array([[0, 3, 255], [15, 1, 0]], dtype=np.uint8)
    assert np.array_equal(decode_mask(encode(labels)), labels)
    palette = encode(labels, mode="P")  # palette indices are the labels
    assert np.array_equal(decode_mask(palette), labels)
    with pytest.raises(DataError, match=r"annotation has mode RGB \(3 channels\)"):
        decode_mask(encode(np.zeros((4, 4, 3), np.uint8)))


def test_allowed_labels_and_mask_problem() -> None:
    assert allowed_labels("fine").tolist() == [*range(16), 255]
    assert allowed_labels("binary").tolist() == [0, 1, 255]
    good = np.array([[0, 15], [255, 7]], np.uint8)
    assert mask_problem(good, "fine") is None
    reason = mask_problem(np.array([[0, 42], [17, 255]], np.uint8), "fine")
    assert reason is not None and "{17, 42}" in reason and "0-15 and 255" in reason
    reason = mask_problem(good, "binary")
    assert reason is not None and "{7, 15}" in reason and "0, 1 and 255" in reason
    wide = np.array([[0, 300]], np.uint16)  # 16-bit masks are checked the same way
    assert "{300}" in (mask_problem(wide, "fine") or "")


def test_label_counts() -> None:
    mask = np.array([[0, 0, 3], [255, 3, 3]], np.uint8)
    counts = label_counts(mask[:, ::-1])  # non-contiguous views are counted too
    assert counts.shape == (256,) and counts.sum() == 6
    assert (counts[0], counts[3], counts[255]) == (2, 3, 1)


def _rows(n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        artefact_row(f"item{i}", rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), np.full((6, 8), i, np.uint8))
        for i in range(n)
    ]


def test_open_source_detection(tmp_path) -> None:
    shard = write_artefact_parquet(tmp_path / "hf" / "data" / "train-00000-of-00001.parquet", _rows(1))
    assert open_source(tmp_path / "hf").kind == "parquet"
    assert open_source(shard).kind == "parquet"
    assert open_source(shard.parent).kind == "parquet"  # a folder of parquet files
    item = {"id": "a", "material": "Paper", "content": "Line art", "image": np.zeros((4, 4, 3), np.uint8),
            "mask": np.zeros((4, 4), np.uint8)}
    csv_dir = write_csv_folder(tmp_path / "csv", [item])
    assert open_source(csv_dir).kind == "metadata_csv"
    bin_dir = write_csv_folder(tmp_path / "bin", [item], image_column="image", mask_column="mask")
    assert open_source(bin_dir).kind == "binary_folder"


def test_open_source_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="neither a .parquet file nor a folder"):
        open_source(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no dataset"):
        open_source(tmp_path / "empty")
    (tmp_path / "corrupt" / "data").mkdir(parents=True)
    (tmp_path / "corrupt" / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(DataError, match=r"train-00000-of-00001.parquet' is not a readable parquet file"):
        list(open_source(tmp_path / "corrupt").items())
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "metadata.csv").write_text("id,picture,labels\na,x.png,y.png\n")
    with pytest.raises(DataError, match=r"columns \['id', 'picture', 'labels'\]; expected 'image_path'"):
        open_source(tmp_path / "odd")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metadata.csv").write_text("id,image_path,annotation_path,content\na,x.png,y.png,Line art\n")
    with pytest.raises(DataError, match=r"lacks the required column\(s\) \['material'\]; columns found"):
        open_source(tmp_path / "half")


def test_parquet_reader_row_groups_and_locations(tmp_path) -> None:
    shard = write_artefact_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", _rows(5), row_group_size=2)
    source = open_source(tmp_path)
    assert len(source) == 5 and source.files() == [shard]
    items = list(source.items(max_side_px=4))
    assert [it.id for it in items] == [f"item{i}" for i in range(5)]
    assert [it.where for it in items] == [f"{shard}#row {i}" for i in range(5)]
    first = items[0]
    assert first.image.shape == (3, 4, 3) and first.image_hw == (6, 8)
    assert first.mask.shape == (6, 8)  # masks stay at full resolution until validated
    assert first.label_level == "fine" and first.group == "item0" and first.type == "Physical"
    record = first.to_record()
    assert record.mask.shape == (3, 4)


def test_metadata_csv_reader(tmp_path) -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    items = [
        {"id": "p1", "material": "Paper", "content": "Line art", "group": "g1", "label_level": "",
         "image": image, "mask": np.full((4, 6), 9, np.uint8)},
        {"id": "p1_flip", "material": "Paper", "content": "Line art", "group": "g1", "label_level": "binary",
         "image": image, "mask": np.ones((4, 6), np.uint8)},
    ]
    root = write_csv_folder(tmp_path / "csv", items)
    validate = ItemValidator()
    records = [validate(raw) for raw in open_source(root).items(None)]
    assert [(r.id, r.group, r.label_level) for r in records] == [("p1", "g1", "fine"), ("p1_flip", "g1", "binary")]
    assert records[0].source == str(root / "images/p1.png")
    assert int(records[0].mask[0, 0]) == 9


def test_validator_rejects_duplicates_and_empty_fields(tmp_path) -> None:
    rows = _rows(3)
    rows[2]["id"] = "item0"
    rows[1]["content"] = " "
    write_artefact_parquet(tmp_path / "data" / "train.parquet", rows)
    validate = ItemValidator()
    out = [validate(raw) for raw in open_source(tmp_path).items(None)]
    assert not isinstance(out[0], Rejection)
    assert isinstance(out[1], Rejection) and out[1].reason.startswith("content is empty")
    assert isinstance(out[2], Rejection) and "repeats the id of the item at" in out[2].reason
    assert out[2].reason.endswith("ids must be unique") and "#row 0" in out[2].reason


def test_check_source_summary(tmp_path) -> None:
    # Two 4x4 items, no resizing at 512 px. Pixels: item a = 8 Clean + 4 Dust (3) + 4 ignore (255);
    # item b = 16 Staining (10). Shares over 32 px: Clean 8/32, Dust 4/32, Staining 16/32, ignore 4/32.
    a = block_mask(np.array([[0, 3], [0, 255]]), 2)
    b = np.full((4, 4), 10, np.uint8)
    image = np.zeros((4, 4, 3), np.uint8)
    rows = [artefact_row("a", image, a, "Paper", "Line art"), artefact_row("b", image, b, "Glass", "Line art"),
            artefact_row("c", image, b, "Glass", "Photographic depiction")]
    write_artefact_parquet(tmp_path / "data" / "train.parquet", rows)
    summary = check_source(tmp_path, progress=False)
    assert summary.ok and summary.kind == "parquet" and summary.n_items == 3
    assert summary.counts.loc["Glass", "Line art"] == 1 and summary.counts.loc["Paper", "Photographic depiction"] == 0
    share = summary.pixel_share("fine")
    assert share["0 Clean"] == pytest.approx(8 / 48) and share["3 Dust"] == pytest.approx(4 / 48)
    assert share["10 Staining"] == pytest.approx(32 / 48) and share["255 ignore"] == pytest.approx(4 / 48)
    text = str(summary)
    assert text.startswith("data check OK") and "Glass" in text and "10 Staining" in text and "66.667 %" in text


def test_check_source_lists_problems(tmp_path) -> None:
    rows = _rows(2)
    rows[1]["annotation"]["bytes"] = encode(np.full((6, 8), 42, np.uint8))
    shard = write_artefact_parquet(tmp_path / "data" / "train.parquet", rows)
    summary = check_source(tmp_path, progress=False)
    assert not summary.ok and summary.n_items == 1
    assert [(p.id, p.source) for p in summary.problems] == [("item1", f"{shard}#row 1")]
    assert f"{shard}#row 1 (id 'item1'): annotation has values {{42}}" in str(summary)
    broken = check_source(tmp_path / "nowhere", progress=False)  # source-level errors become problems
    assert not broken.ok and "neither a .parquet file" in broken.problems[0].reason
