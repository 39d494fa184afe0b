"""Tests of heritage_core.evaluation.evaluate: label routing, predictions per scored head, the eval/ files of a tiny run."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from eval_builders import BINARY_IDS
from heritage_core.evaluation import evaluate as ev
from heritage_core.evaluation import store
from heritage_core.data.cache import open_cache
from heritage_core.errors import ConfigError, DataError, RunError
from heritage_core.evaluation.metrics import reduce_counts
from heritage_core.evaluation.store import load_counts
from heritage_core.runs import atomic_write_json, read_json
from heritage_core.splits.protocols import load_manifest
from heritage_core.taxonomy import IGNORE_INDEX, default_taxonomy

TAX = default_taxonomy()


@pytest.fixture(scope="module")
def suite(evaluated_tiny_suite):
    return evaluated_tiny_suite


class ConstantModel(nn.Module):
    """Predicts one label per head everywhere (logit 5 for it, 0 elsewhere)."""

    def __init__(self, labels: dict[str, int]) -> None:
        super().__init__()
        self.labels = labels
        self.heads = nn.ModuleDict({h: nn.Identity() for h in labels})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, _, h, w = x.shape
        out = {}
        for head, label in self.labels.items():
            logits = torch.zeros(n, TAX.num_classes[head], h, w)
            logits[:, label] = 5.0
            out[head] = logits
        return out


# --------------------------------------------------------------------------- units, hand-worked
def test_label_targets_maps_fine_items_to_every_level_and_binary_items_to_binary_only() -> None:
    mask = np.array([[0, 3], [255, 10]], dtype=np.uint8)  # Clean, Dust (Deposits), ignore, Staining (Discolouration)
    targets = ev.label_targets(mask, "fine")
    assert targets["fine"].tolist() == [[0, 3], [255, 10]]
    assert targets["coarse"].tolist() == [[0, 2], [255, 3]]
    assert targets["binary"].tolist() == [[0, 1], [255, 1]]
    assert list(ev.label_targets(np.array([[0, 1]], np.uint8), "binary")) == ["binary"]
    with pytest.raises(DataError, match="label level 'coarse'"):
        ev.label_targets(mask, "coarse")


def test_image_predictions_independent_derived_and_consistent() -> None:
    logits = {h: torch.zeros(TAX.num_classes[h], 1, 2) for h in ("binary", "coarse", "fine")}
    logits["fine"][10] = 3.0  # Staining -> coarse 3, binary 1
    logits["coarse"][2] = 1.0  # independent coarse head says Deposits
    logits["binary"][0] = 1.0  # independent binary head says clean
    preds = ev.image_predictions(logits, consistent=True)
    assert set(preds) == set(ev.scored_heads(consistent=True))
    assert preds["fine"].tolist() == [[10, 10]] and preds["coarse"].tolist() == [[2, 2]]
    assert preds["binary"].tolist() == [[0, 0]]
    assert preds["coarse_from_fine"].tolist() == [[3, 3]] and preds["binary_from_fine"].tolist() == [[1, 1]]
    # best path: log-softmax sums; fine 10 dominates (3 vs 1 + 1), so the leaf stays Staining.
    assert preds["fine_consistent"].tolist() == [[10, 10]] and preds["coarse_consistent"].tolist() == [[3, 3]]
    flat = ev.image_predictions({"fine": logits["fine"]}, consistent=True)
    assert set(flat) == set(ev.scored_heads()) and flat["coarse"].tolist() == [[3, 3]]


def test_downsample_labels_takes_pixel_centres() -> None:
    labels = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert ev.downsample_labels(labels, 2).tolist() == [[5, 7], [13, 15]]
    assert ev.downsample_labels(labels, 8).tolist() == labels.tolist()
    assert ev.downsample_labels(np.zeros((10, 4), np.uint8), 5).shape == (5, 2)


def test_evaluate_partition_counts_a_constant_prediction_by_hand(suite) -> None:
    tiny, _ = suite
    cache = open_cache(tiny.cache)
    # Dust (fine 3) everywhere from the fine head; the independent binary head says clean, coarse says Deposits.
    model = ConstantModel({"binary": 0, "coarse": 2, "fine": 3})
    result = ev.evaluate_partition(model, cache, [BINARY_IDS[0], "synth_00000"], tile=32)
    # The binary item: 72 x 96 px, damage 10 x 30 = 300 px, no ignore.
    b = result.counts["binary_from_fine"]
    k = b.ids.index(BINARY_IDS[0])
    assert b.intersection[k].tolist() == [0, 300] and b.union[k].tolist() == [6612, 6912]
    assert result.counts["binary"].intersection[k].tolist() == [6612, 0]
    assert BINARY_IDS[0] not in result.counts["fine"].ids and BINARY_IDS[0] not in result.counts["coarse"].ids
    # Every valid pixel breaks the tree (binary 0 under coarse Deposits).
    mask = cache.load_mask("synth_00000")
    valid = int((mask != IGNORE_INDEX).sum())
    assert result.violating_px == [6912, valid] and result.valid_px == [6912, valid]
    fine = result.counts["fine"]
    assert fine.ids == ["synth_00000"]
    assert fine.pred[0].tolist() == [0, 0, 0, valid] + [0] * 12
    assert fine.intersection[0, 3] == int((mask == 3).sum())
    assert result.preds["fine"][0].shape == (72, 96) and set(np.unique(result.preds["fine"][0])) == {3}


# --------------------------------------------------------------------------- a tiny finished run
@pytest.mark.parametrize("name", ["flat", "hierarchical"])
def test_evaluate_run_writes_counts_with_ids_per_head(suite, name: str) -> None:
    tiny, results = suite
    run_dir = tiny.runs[name]
    info = results[name]["eval"]
    # the run's own scale and precision: its validation tiles, overlap and fp32 on the CPU
    run_info = read_json(run_dir / "run.json")
    assert "mode" not in info and info["smoke"]
    assert (info["tile"], info["overlap"], info["precision"]) == (64, 0.25, "fp32")
    assert run_info["inference"] == {"tile": 64, "overlap": 0.25, "precision": "fp32"}
    assert info["checkpoint"] == read_json(run_dir / "run.json")["best_checkpoint"]
    manifest = load_manifest(read_json(run_dir / "run.json")["manifest"])
    files = sorted(p.name for p in (run_dir / "eval").iterdir())
    assert files == sorted(["eval.json", "metrics.json"] + [f"{p}{s}.npz" for p in ("val", "id_test", "ood_test")
                                                             for s in ("", "_pred")])
    heads = ev.scored_heads(consistent=name == "hierarchical", hierarchical=name == "hierarchical")
    for part in ("val", "id_test", "ood_test"):
        counts = load_counts(run_dir / "eval" / f"{part}.npz")
        assert list(counts) == list(heads)
        expected = manifest.partitions[part][: ev.SMOKE_MAX_IMAGES]
        for head, c in counts.items():
            level = store.BASE_HEAD[head]
            want = expected if level == "binary" else [i for i in expected if i not in BINARY_IDS]
            assert c.ids == want, (part, head)
            assert c.intersection.shape == (len(want), TAX.num_classes[level]) and c.confusion.shape == (
                TAX.num_classes[level],) * 2
        preds = store.load_predictions(run_dir / "eval" / f"{part}_pred.npz")
        assert preds["ids"] == expected and len(preds["fine"]) == len(expected)
        for k, (h, w) in enumerate(preds["shape"]):
            assert preds["fine"][k].shape == ev.downsample_labels(np.zeros((h, w), np.uint8), 256).shape
    ood = load_counts(run_dir / "eval" / "ood_test.npz")
    assert set(BINARY_IDS) <= set(ood["binary"].ids) and not set(BINARY_IDS) & set(ood["fine"].ids)


@pytest.mark.parametrize("name", ["flat", "hierarchical", "random"])
def test_metrics_json_equals_recomputation_from_npz(suite, name: str) -> None:
    tiny, _ = suite
    run_dir = tiny.runs[name]
    metrics = read_json(run_dir / "eval" / "metrics.json")
    for part, scores in metrics["partitions"].items():
        if "skipped" in scores:
            continue
        for head, c in load_counts(run_dir / "eval" / f"{part}.npz").items():
            m = reduce_counts(c)
            stored = scores["heads"][head]
            for key in ("miou", "macc", "mdice", "aacc"):
                value = getattr(m, key)
                assert (stored[key] is None and math.isnan(value)) or stored[key] == value, (part, head, key)
            got = np.array([np.nan if v is None else v for v in stored["classes"]["iou"]])
            np.testing.assert_array_equal(got, m.iou)
            assert stored["classes"]["support_px"] == m.support_px.tolist()
            assert stored["confusion"] == m.confusion.tolist()
            low, high = stored["miou_ci"]
            assert low <= stored["miou"] <= high


def test_violation_rate_is_summed_counts_and_flat_has_none(suite) -> None:
    tiny, results = suite
    hier = results["hierarchical"]["metrics"]["partitions"]["id_test"]["violation"]
    assert hier["rate"] == hier["violating_px"] / hier["valid_px"]
    cache = open_cache(tiny.cache)
    ids = load_counts(tiny.runs["hierarchical"] / "eval" / "id_test.npz")["binary"].ids
    assert hier["valid_px"] == sum(int((cache.load_mask(i) != IGNORE_INDEX).sum()) for i in ids)
    assert results["flat"]["metrics"]["partitions"]["id_test"]["violation"] is None
    assert results["flat"]["eval"]["derived_from_fine"] == ["binary", "coarse"]


def test_domain_breakdown_covers_each_material_of_the_partition(suite) -> None:
    tiny, results = suite
    domains = results["flat"]["metrics"]["partitions"]["ood_test"]["domains"]
    cache = open_cache(tiny.cache)
    ids = load_counts(tiny.runs["flat"] / "eval" / "ood_test.npz")["binary"].ids
    materials = sorted(set(cache.index.loc[ids, "material"]))
    assert sorted(domains["material"]) == materials
    assert domains["material"]["Film emulsion"]["binary"]["n_images"] == 2
    assert "fine" not in domains["material"]["Film emulsion"]
    assert sum(d["binary"]["n_images"] for d in domains["content"].values()) == len(ids)


def test_random_protocol_skips_and_records_empty_ood(suite) -> None:
    tiny, results = suite
    info, metrics = results["random"]["eval"], results["random"]["metrics"]
    assert info["partitions"]["ood_test"]["status"] == "skipped"
    assert "random protocol" in info["partitions"]["ood_test"]["reason"]
    assert "skipped" in metrics["partitions"]["ood_test"]
    assert not (tiny.runs["random"] / "eval" / "ood_test.npz").exists()
    table = store.summary_table(metrics)
    assert table[table["partition"] == "ood_test"]["n_images"].tolist() == [0]


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns(".lock"))
    return target


def test_reevaluation_replaces_eval_and_a_run_without_its_scale_is_refused(suite, tmp_path: Path) -> None:
    tiny, _ = suite
    run_dir = _copy_run(tiny.runs["flat"], tmp_path)
    out = ev.evaluate_run(run_dir, partitions=("id_test",), smoke=True, n_resamples=50)
    assert list(out["eval"]["partitions"]) == ["id_test"] and out["eval"]["tile"] == 64
    assert sorted(p.name for p in (run_dir / "eval").iterdir()) == ["eval.json", "id_test.npz", "id_test_pred.npz",
                                                                   "metrics.json"]
    # a run trained before the scale rule (no "inference" in run.json) cannot be scored at its training scale
    info = read_json(run_dir / "run.json")
    atomic_write_json(run_dir / "run.json", {k: v for k, v in info.items() if k != "inference"})
    with pytest.raises(RunError, match="inference"):
        ev.evaluate_run(run_dir, partitions=("id_test",), smoke=True, n_resamples=50)


def test_failed_reevaluation_leaves_previous_eval_untouched(suite, tmp_path: Path, monkeypatch) -> None:
    tiny, _ = suite
    run_dir = _copy_run(tiny.runs["flat"], tmp_path)
    before = {p.name: p.read_bytes() for p in (run_dir / "eval").iterdir()}

    def broken(*args, **kwargs):
        raise DataError("simulated failure")

    monkeypatch.setattr(ev, "evaluate_partition", broken)
    with pytest.raises(DataError, match="simulated"):
        ev.evaluate_run(run_dir, partitions=("val",), smoke=True)
    assert {p.name: p.read_bytes() for p in (run_dir / "eval").iterdir()} == before
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".eval")]


def test_unfinished_run_is_refused(suite, tmp_path: Path) -> None:
    tiny, _ = suite
    run_dir = _copy_run(tiny.runs["flat"], tmp_path)
    info = read_json(run_dir / "run.json")
    atomic_write_json(run_dir / "run.json", {**info, "status": "running"})
    with pytest.raises(RunError, match="status 'running'"):
        ev.evaluate_run(run_dir, smoke=True)
    with pytest.raises(RunError, match="no run.json"):
        ev.evaluate_run(tmp_path / "nowhere")


def test_bad_parameters_name_themselves(suite) -> None:
    tiny, _ = suite
    run_dir = tiny.runs["flat"]
    with pytest.raises(ConfigError, match="partitions"):
        ev.check_evaluate_params(run_dir=run_dir, partitions=["test"])
    with pytest.raises(ConfigError, match="score_cache"):
        ev.check_evaluate_params(run_dir=run_dir, score_cache=run_dir / "nowhere")
    with pytest.raises(ConfigError, match="consistent heads"):
        ev.check_evaluate_params(run_dir=run_dir, show_heads=["fine_consistent"])
    params = ev.check_evaluate_params(run_dir=run_dir, score_cache="")
    assert params.figures_dir == run_dir / "eval" / "figures" and params.run_kwargs()["score_cache"] is None


def test_stored_prediction_maps_fine_to_the_derived_heads(suite) -> None:
    tiny, _ = suite
    preds = store.load_predictions(tiny.runs["hierarchical"] / "eval" / "id_test_pred.npz")
    fine = preds["fine"][0]
    np.testing.assert_array_equal(store.stored_prediction(preds, "coarse_from_fine", 0),
                                  TAX.map_labels(fine, "fine", "coarse"))
    np.testing.assert_array_equal(store.stored_prediction(preds, "binary", 0), preds["binary"][0])
    np.testing.assert_array_equal(store.stored_prediction(preds, "binary_consistent", 0),
                                  TAX.map_labels(preds["fine_consistent"][0], "fine", "binary"))
    flat = store.load_predictions(tiny.runs["flat"] / "eval" / "id_test_pred.npz")
    with pytest.raises(DataError, match="consistent=True"):
        store.stored_prediction(flat, "fine_consistent", 0)


def test_a_score_cache_scores_the_same_predictions_at_a_larger_side(synthetic_source: Path, tmp_path: Path) -> None:
    from heritage_core.data.ingest import ingest

    ingest(synthetic_source, tmp_path / "c64", max_side_px=64, progress=False)
    ingest(synthetic_source, tmp_path / "c128", max_side_px=128, progress=False)
    small, large = open_cache(tmp_path / "c64"), open_cache(tmp_path / "c128")
    ids = ["synth_00000", "synth_00001"]
    model = ConstantModel({"binary": 0, "coarse": 2, "fine": 3})
    spy: list[tuple[int, ...]] = []
    model.register_forward_pre_hook(lambda m, args: spy.append(tuple(args[0].shape[2:])))
    at_cache = ev.evaluate_partition(model, small, ids, tile=32, overlap=0.0)
    at_large = ev.evaluate_partition(model, small, ids, tile=32, overlap=0.0, score_cache=large)
    # the model sees the training cache only (32 px tiles of the 64 px images) ...
    assert set(spy) == {(32, 32)}
    # ... and the larger cache's masks are scored: every valid pixel of the 128 px masks, once
    for k, item in enumerate(ids):
        valid_small = int((small.load_mask(item) != IGNORE_INDEX).sum())
        valid_large = int((large.load_mask(item) != IGNORE_INDEX).sum())
        assert at_cache.counts["fine"].label[k].sum() == valid_small
        assert at_large.counts["fine"].label[k].sum() == valid_large > 3 * valid_small
    with pytest.raises(DataError, match="does not hold the run's images"):
        other = tmp_path / "other"
        from heritage_core.data.synth import write_synthetic_dataset

        write_synthetic_dataset(other, n=18, seed=7, max_side_px=64)
        ingest(other, tmp_path / "c_other", max_side_px=128, progress=False)
        ev._score_cache(tmp_path / "c_other", small)
