"""Tests of heritage_core.evaluation.metrics: hand-worked scores, torchmetrics agreement, per-image store, npz round trip."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from heritage_core.errors import ConfigError, DataError
from heritage_core.evaluation.metrics import (
    ABSENT_CLASS_RULE,
    COUNT_KEYS,
    SegCounts,
    accumulate_counts,
    all_clean_counts,
    normalise_confusion,
    reduce_by_group,
    reduce_counts,
)
from heritage_core.evaluation.store import load_counts, save_counts

# Two 2x3 images, 4 classes. Class 2 is predicted once but never labelled (IoU 0, Acc undefined); class 3
# appears nowhere (everything undefined, left out of the means). 255 pixels are never scored, whatever
# is predicted there (2, 0 and even 7, outside the class range).
LABEL = torch.tensor([
    [[0, 0, 1], [1, 255, 255]],
    [[1, 1, 1], [0, 0, 255]],
], dtype=torch.uint8)
PRED = torch.tensor([
    [[0, 1, 1], [1, 2, 0]],
    [[1, 2, 1], [0, 0, 7]],
])
# Worked by hand, per image (scored pixels only):
#   image 0: (l0,p0) (l0,p1) (l1,p1) (l1,p1)         -> I [1,2,0,0] label [2,2,0,0] pred [1,3,0,0]
#   image 1: (l1,p1) (l1,p2) (l1,p1) (l0,p0) (l0,p0) -> I [2,2,0,0] label [2,3,0,0] pred [2,2,1,0]
EXPECTED_ROWS = {
    "intersection": [[1, 2, 0, 0], [2, 2, 0, 0]],
    "label": [[2, 2, 0, 0], [2, 3, 0, 0]],
    "pred": [[1, 3, 0, 0], [2, 2, 1, 0]],
    "union": [[2, 3, 0, 0], [2, 3, 1, 0]],
}
NAMES = ("clean", "crack", "dust", "stamp")


def test_hand_worked_counts_and_confusion() -> None:
    counts = accumulate_counts(PRED, LABEL, num_classes=4)
    for key, rows in EXPECTED_ROWS.items():
        assert counts[key].tolist() == rows, key
        assert counts[key].dtype == torch.int64
    assert counts["confusion"].sum(0).tolist() == [[3, 1, 0, 0], [0, 4, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_hand_worked_scores_absent_class_is_nan_and_excluded() -> None:
    m = reduce_counts(accumulate_counts(PRED, LABEL, num_classes=4), NAMES)
    # ΣI = [3,4,0,0], ΣU = [4,6,1,0], Σlabel = [4,5,0,0], Σpred = [3,5,1,0]
    np.testing.assert_allclose(m.iou[:3], [3 / 4, 4 / 6, 0.0])
    np.testing.assert_allclose(m.acc[:2], [3 / 4, 4 / 5])
    np.testing.assert_allclose(m.dice[:3], [6 / 7, 8 / 10, 0.0])
    assert math.isnan(m.iou[3]) and math.isnan(m.acc[2]) and math.isnan(m.acc[3]) and math.isnan(m.dice[3])
    assert m.miou == pytest.approx((3 / 4 + 4 / 6 + 0) / 3)
    assert m.macc == pytest.approx((3 / 4 + 4 / 5) / 2)
    assert m.mdice == pytest.approx((6 / 7 + 8 / 10 + 0) / 3)
    assert m.aacc == pytest.approx(7 / 9)
    assert m.support_px.tolist() == [4, 5, 0, 0]
    assert m.support_images.tolist() == [2, 2, 0, 0]
    assert m.n_images == 2
    assert m.summary()["n_classes_scored"] == 3


def test_to_frame_is_tidy_and_rule_is_one_sentence() -> None:
    frame = reduce_counts(accumulate_counts(PRED, LABEL, num_classes=4), NAMES).to_frame()
    assert list(frame.columns) == ["class_id", "class_name", "iou", "acc", "dice", "support_px", "support_images"]
    assert frame["class_name"].tolist() == list(NAMES)
    assert frame["iou"].isna().tolist() == [False, False, False, True]
    assert frame["support_images"].tolist() == [2, 2, 0, 0]
    assert ABSENT_CLASS_RULE.count(". ") == 0 and ABSENT_CLASS_RULE.endswith(".")
    assert "mAcc averages only the labelled classes" in ABSENT_CLASS_RULE


def test_a_predicted_but_unlabelled_class_enters_miou_but_not_macc() -> None:
    # class 2 is predicted on 2 px but never labelled: IoU 0 (in mIoU), Acc undefined (not in mAcc)
    pred = torch.tensor([[[0, 0, 2, 2], [1, 1, 1, 1]]])
    label = torch.tensor([[[0, 0, 0, 0], [1, 1, 1, 1]]])
    m = reduce_counts(accumulate_counts(pred, label, num_classes=4), NAMES)
    assert m.iou[2] == 0.0 and np.isnan(m.acc[2]) and np.isnan(m.iou[3]) and np.isnan(m.acc[3])
    assert m.miou == pytest.approx((0.5 + 1.0 + 0.0) / 3) and m.macc == pytest.approx((0.5 + 1.0) / 2)


def test_normalise_confusion_rows_sum_to_one_and_empty_rows_are_nan() -> None:
    conf = accumulate_counts(PRED, LABEL, num_classes=4)["confusion"].sum(0)
    norm = normalise_confusion(conf)
    np.testing.assert_allclose(norm[0], [0.75, 0.25, 0, 0])
    np.testing.assert_allclose(norm[1], [0, 0.8, 0.2, 0])
    assert np.isnan(norm[2:]).all()


def test_per_image_then_sum_equals_all_at_once_and_accepts_numpy_and_2d() -> None:
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 6, (5, 17, 23), generator=g)
    label[torch.rand(label.shape, generator=g) < 0.2] = 255
    pred = torch.randint(0, 6, (5, 17, 23), generator=g)
    together = accumulate_counts(pred, label, 6)
    one_by_one = [accumulate_counts(pred[i].numpy(), label[i].numpy(), 6) for i in range(5)]
    for key in (*COUNT_KEYS, "confusion"):
        assert torch.equal(torch.cat([c[key] for c in one_by_one]), together[key]), key
    whole = reduce_counts({k: v.sum(0) for k, v in together.items()})
    per_image = reduce_counts(together)
    np.testing.assert_array_equal(whole.iou, per_image.iou)
    assert whole.support_images is None and whole.n_images is None


def test_matches_torchmetrics_on_present_classes() -> None:
    from torchmetrics.classification import MulticlassJaccardIndex

    c = 8
    g = torch.Generator().manual_seed(1)
    # Classes 6 and 7 never occur in labels or predictions; class 5 is only ever predicted.
    label = torch.randint(0, 5, (6, 32, 32), generator=g)
    label[torch.rand(label.shape, generator=g) < 0.15] = 255
    pred = torch.randint(0, 6, (6, 32, 32), generator=g)
    ours = reduce_counts(accumulate_counts(pred, label, c))
    reference = MulticlassJaccardIndex(num_classes=c, average=None, ignore_index=255)
    reference.update(pred, label)
    theirs = reference.compute().double().numpy()
    present = np.isfinite(ours.iou)
    assert present.tolist() == [True] * 6 + [False] * 2
    np.testing.assert_allclose(ours.iou[present], theirs[present], rtol=1e-6)
    # Documented difference: torchmetrics reports 0 (zero_division=0) for classes with union 0, we report NaN.
    assert (theirs[~present] == 0).all()
    # ... yet its macro average leaves those classes out, like our mIoU.
    macro = MulticlassJaccardIndex(num_classes=c, average="macro", ignore_index=255)
    macro.update(pred, label)
    assert float(macro.compute()) == pytest.approx(ours.miou, rel=1e-6)


def test_prediction_outside_range_at_scored_pixel_is_an_error_naming_the_image() -> None:
    pred = PRED.clone()
    pred[1, 0, 0] = 4
    with pytest.raises(DataError, match=r"image 1 of the batch \(id 'b'\) has values \[4\].*allowed are 0\.\.3"):
        accumulate_counts(pred, LABEL, 4, ids=["a", "b"])
    pred[1, 0, 0] = -1
    with pytest.raises(DataError, match=r"\[-1\]"):
        accumulate_counts(pred, LABEL, 4)


def test_bad_inputs_are_refused() -> None:
    label = LABEL.clone()
    label[0, 0, 0] = 9
    with pytest.raises(DataError, match=r"label of image 0 .* values \[9\]; allowed are 0\.\.3 and 255"):
        accumulate_counts(PRED, label, 4)
    with pytest.raises(DataError, match="values \\[300\\]"):
        accumulate_counts(PRED, LABEL.long().index_fill(1, torch.tensor([0]), 300), 4)
    with pytest.raises(DataError, match="dtype torch.float32"):
        accumulate_counts(PRED.float(), LABEL, 4)
    with pytest.raises(DataError, match="same"):
        accumulate_counts(PRED[:, :1], LABEL, 4)
    with pytest.raises(ConfigError, match="ignore_index"):
        accumulate_counts(PRED, LABEL, 4, ignore_index=2)
    with pytest.raises(ConfigError, match="num_classes"):
        accumulate_counts(PRED, LABEL, 0)


def _two_heads() -> dict[str, SegCounts]:
    fine = SegCounts("fine", NAMES)
    fine.update(["a", "b"], PRED, LABEL)
    binary = SegCounts("binary", ("clean", "damage"))
    binary.update(["a", "b"], PRED.clamp(max=1), LABEL.where(LABEL == 255, LABEL.clamp(max=1)))
    binary.update(["film_1"], torch.ones(4, 4, dtype=torch.long), torch.ones(4, 4, dtype=torch.uint8))
    return {"fine": fine, "binary": binary}


def test_segcounts_accumulates_rows_and_refuses_duplicate_ids() -> None:
    fine = _two_heads()["fine"]
    assert fine.ids == ["a", "b"] and len(fine) == 2 and fine.num_classes == 4
    assert fine.intersection.tolist() == EXPECTED_ROWS["intersection"]
    assert fine.confusion.sum() == 9
    with pytest.raises(DataError, match=r"\['a'\] occur more than once"):
        fine.update(["a"], PRED[0], LABEL[0])
    picked = fine.select(["b"])
    assert picked.ids == ["b"] and picked.union.tolist() == [EXPECTED_ROWS["union"][1]]
    assert picked.confusion is None
    with pytest.raises(DataError, match="not among"):
        fine.select(["zzz"])


def test_save_load_round_trip_keeps_each_heads_ids(tmp_path) -> None:
    heads = _two_heads()
    path = save_counts(tmp_path / "eval" / "id_test.npz", heads)
    assert sorted(p.name for p in path.parent.iterdir()) == ["id_test.npz"]  # no temporary file left
    with np.load(path) as raw:
        assert {"ids", "heads", "fine_ids", "binary_ids", "fine_confusion", "binary_intersection"} <= set(raw.files)
        assert raw["ids"].tolist() == ["a", "b", "film_1"]
    loaded = load_counts(path)
    assert list(loaded) == ["fine", "binary"]
    assert loaded["binary"].ids == ["a", "b", "film_1"] and loaded["fine"].ids == ["a", "b"]
    for head, counts in heads.items():
        assert loaded[head].class_names == counts.class_names
        for key in (*COUNT_KEYS, "confusion"):
            np.testing.assert_array_equal(getattr(loaded[head], key), getattr(counts, key))
    assert reduce_counts(loaded["fine"]).miou == pytest.approx(reduce_counts(heads["fine"]).miou)


def test_load_counts_missing_file_names_it(tmp_path) -> None:
    with pytest.raises(DataError, match="ood_test.npz' do not exist"):
        load_counts(tmp_path / "ood_test.npz")


def test_reduce_by_group_equals_reduce_on_the_group_rows() -> None:
    counts = accumulate_counts(PRED, LABEL, 4)
    by_group = reduce_by_group(counts, ["Paper", "Film"])
    assert list(by_group) == ["Film", "Paper"]
    alone = reduce_counts({k: v[1:] for k, v in counts.items()})
    np.testing.assert_array_equal(by_group["Film"].iou, alone.iou)
    assert by_group["Paper"].iou[0] == pytest.approx(1 / 2)
    with pytest.raises(DataError, match="one group per row"):
        reduce_by_group(counts, ["Paper"])


def test_all_clean_floor_by_hand() -> None:
    # the labels of LABEL/PRED: image 0 labels [2, 2, 0, 0], image 1 [2, 3, 0, 0] (scored pixels 4 and 5)
    counts = SegCounts("fine", NAMES)
    counts.update(["a", "b"], PRED, LABEL)
    floor = all_clean_counts(counts)
    assert floor.intersection.tolist() == [[2, 0, 0, 0], [2, 0, 0, 0]]
    assert floor.union.tolist() == [[4, 2, 0, 0], [5, 3, 0, 0]]
    assert floor.pred.tolist() == [[4, 0, 0, 0], [5, 0, 0, 0]] and floor.label.tolist() == counts.label.tolist()
    m = reduce_counts(floor)
    # Clean 4/9, class 1 0/5; classes 2 and 3 are neither labelled nor predicted by the floor: NaN, left out
    assert m.iou[:2].tolist() == pytest.approx([4 / 9, 0.0]) and np.isnan(m.iou[2:]).all()
    assert m.miou == pytest.approx(2 / 9) and m.aacc == pytest.approx(4 / 9)
    assert floor.ids == ["a", "b"] and floor.confusion[:, 0].tolist() == [4, 5, 0, 0]


def test_group_rows_sum_the_images_of_one_source(tmp_path) -> None:
    counts = SegCounts("fine", NAMES)
    counts.update(["a", "b"], PRED, LABEL)
    path = save_counts(tmp_path / "c.npz", {"fine": counts}, groups={"a": "src1", "b": "src1"})
    loaded = load_counts(path)["fine"]
    assert loaded.groups == ["src1", "src1"]
    grouped = loaded.by_group()
    assert grouped.ids == ["src1"] and grouped.intersection.tolist() == [counts.intersection.sum(0).tolist()]
    assert reduce_counts(grouped).miou == pytest.approx(reduce_counts(counts).miou)
    # one image per group: the counts are returned as they are
    alone = load_counts(save_counts(tmp_path / "d.npz", {"fine": counts}, groups={"a": "x", "b": "y"}))["fine"]
    assert alone.by_group().ids == ["a", "b"]
