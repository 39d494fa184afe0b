"""A fake *finished* suite for the report, paper and notebook-05 tests, built without training a model.

``finished_suite(synthetic_cache, base)`` writes ``suites/<name>/`` with the layout of a real suite:

* ``profile.yaml``, ``splits/`` (the first ``n_folds`` ``locontent`` manifests of the session's synthetic
  cache, split seed 0);
* ``runs/<fold>/<variant>/convnext_atto/seed<k>/`` for the four ablation variants: ``run.json`` (status
  finished), ``history.csv`` written with the trainer's own :func:`heritage_core.train.rundir.write_history`
  (stages from ``configs/variants.yaml``, 10 epochs in all), and ``eval/`` as :func:`heritage_core.evaluation.evaluate.
  evaluate_run` writes it: per-image counts scored with :class:`heritage_core.evaluation.metrics.SegCounts` from the
  cache's real masks and a *simulated* prediction (the mask with 8 px blocks replaced at a variant-specific
  rate), ``metrics.json`` from :func:`heritage_core.evaluation.scores.partition_metrics`, ``eval.json`` and the
  stored prediction masks ``<partition>_pred.npz`` (documented layout);
* ``results/results.{csv,parquet}`` and ``results/comparisons.csv`` from the real
  :func:`heritage_core.evaluation.dg.collect_results` and :func:`heritage_core.evaluation.dg.compare_variants`.

Built once per (base folder, name) and shared by the test files. :func:`paper_assets` then writes the
suite's paper assets (notebook 05's output) next to a copy of ``paper/main.tex`` once per folder.
"""
from __future__ import annotations

import io
import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from heritage_core.data.cache import open_cache
from heritage_core.evaluation.analysis import write_headline
from heritage_core.evaluation.dg import collect_results, compare_variants, write_comparisons, write_results
from heritage_core.evaluation.evaluate import label_targets
from heritage_core.evaluation.scores import partition_metrics
from heritage_core.evaluation.store import BASE_HEAD, EVAL_FORMAT
from heritage_core.evaluation.metrics import ABSENT_CLASS_RULE, SegCounts
from heritage_core.evaluation.store import save_counts
from heritage_core.runs import atomic_write_json, params_hash
from heritage_core.splits.protocols import make_splits, write_manifests
from heritage_core.taxonomy import IGNORE_INDEX, default_taxonomy
from heritage_core.train.variants import load_variants
from heritage_core.train.rundir import HISTORY_COLUMNS, write_history

ENCODER = "convnext_atto"
VARIANTS = ("flat", "hierarchical", "curriculum_only", "curriculum")
#: Share of 8 px blocks left as labelled, per variant (the simulated prediction quality).
QUALITY = {"flat": 0.55, "hierarchical": 0.62, "curriculum_only": 0.66, "curriculum": 0.72}
N_RESAMPLES = 100
_HEADS = ("binary", "coarse", "fine", "binary_from_fine", "coarse_from_fine")
_EPOCHS = 10


@dataclass(frozen=True)
class FinishedSuite:
    """Paths of the fake suite."""

    suite_dir: Path
    cache: Path
    folds: tuple[str, ...]
    seeds: tuple[int, ...]
    runs: dict[tuple[str, str, int, str], Path]  # (variant, fold, seed, encoder) -> run dir

    @property
    def name(self) -> str:
        return self.suite_dir.name

    @property
    def results_dir(self) -> Path:
        return self.suite_dir / "results"


_BUILT: dict[tuple[Path, str], FinishedSuite] = {}


def _history_rows(variant: str, seed: int) -> list[dict]:
    stages = load_variants()[variant].stages
    total = sum(s.epochs for s in stages)
    epochs = [max(1, round(_EPOCHS * s.epochs / total)) for s in stages]
    rng = np.random.default_rng([seed, len(variant)])
    rows, step = [], 0
    for k, (stage, n) in enumerate(zip(stages, epochs), start=1):
        for epoch in range(1, n + 1):
            step += 1
            row = {c: float("nan") for c in HISTORY_COLUMNS}
            row.update(stage=k, stage_name=stage.name, epoch=epoch, lr=stage.lr * (1 - epoch / (n + 1)),
                       validated=True, seconds=12.5, images_per_s=30.0, peak_mem_mb=float("nan"))
            for head in stage.loss_heads:
                row[f"loss_{head}"] = 1.5 / (1 + 0.4 * step) + 0.02 * float(rng.random())
            row["loss_total"] = sum(row[f"loss_{h}"] for h in stage.loss_heads)
            heads = ("fine",) if variant == "flat" else ("binary", "coarse", "fine")
            for h, ceiling in zip(("binary", "coarse", "fine"), (0.8, 0.6, 0.45)):
                if h in heads:
                    row[f"val_miou_{h}"] = ceiling * (1 - float(np.exp(-step / 4))) + 0.01 * float(rng.random())
            row["val_score"] = row["val_miou_" + stage.selection_head]
            rows.append(row)
    return rows


def _simulated_prediction(mask: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """The mask with 8 px blocks replaced (rate 1 - quality) by clean or a random class; ignore -> clean."""
    pred = np.where(mask == IGNORE_INDEX, 0, mask).astype(np.uint8)
    for y in range(0, pred.shape[0], 8):
        for x in range(0, pred.shape[1], 8):
            if rng.random() > quality:
                pred[y:y + 8, x:x + 8] = 0 if rng.random() < 0.6 else rng.integers(1, 16)
    return pred


def _write_predictions(path: Path, ids: list[str], preds: dict[str, list[np.ndarray]]) -> None:
    n, side = len(ids), max(max(p.shape) for p in preds["fine"])
    arrays = {"format": np.array(EVAL_FORMAT), "max_side_px": np.array(side), "ids": np.array(ids, dtype=str),
              "shape": np.array([p.shape for p in preds["fine"]], dtype=np.int64).reshape(n, 2),
              "size": np.array([p.shape for p in preds["fine"]], dtype=np.int64).reshape(n, 2)}
    for head, masks in preds.items():
        stack = np.full((n, side, side), IGNORE_INDEX, dtype=np.uint8)
        for k, m in enumerate(masks):
            stack[k, :m.shape[0], :m.shape[1]] = m
        arrays[head] = stack
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _write_eval(run_dir: Path, cache, manifest, info: dict, variant: str, rng_seed: int) -> None:
    taxonomy = default_taxonomy()
    rng = np.random.default_rng([rng_seed, VARIANTS.index(variant), len(manifest.fold)])
    domains = {col: cache.index[col].astype(str).to_dict() for col in ("material", "content")}
    eval_dir = run_dir / "eval"
    eval_dir.mkdir(parents=True)
    metrics = {"format": EVAL_FORMAT, "absent_class_rule": ABSENT_CLASS_RULE,
               "ci": {"level": 0.95, "method": "percentile", "unit": "image", "n_resamples": N_RESAMPLES, "seed": 0},
               "partitions": {}}
    parts = {}
    for part in ("val", "id_test", "ood_test"):
        ids = list(manifest.partitions[part])
        counts = {h: SegCounts(h, taxonomy.names(BASE_HEAD[h])) for h in _HEADS}
        preds: dict[str, list[np.ndarray]] = {"binary": [], "coarse": [], "fine": []}
        valid = 0
        for item in ids:
            mask = cache.load_mask(item)
            fine = _simulated_prediction(mask, QUALITY[variant], rng)
            pred = {h: taxonomy.map_labels(fine, "fine", h) for h in ("binary", "coarse", "fine")}
            targets = label_targets(mask, cache.label_level(item), taxonomy)
            for head in _HEADS:
                if BASE_HEAD[head] in targets:
                    counts[head].update([item], torch.from_numpy(pred[BASE_HEAD[head]].astype(np.int64)),
                                        torch.from_numpy(targets[BASE_HEAD[head]]))
            for h in preds:
                preds[h].append(pred[h])
            valid += int((mask != IGNORE_INDEX).sum())
        save_counts(eval_dir / f"{part}.npz", counts)
        _write_predictions(eval_dir / f"{part}_pred.npz", ids, preds)
        violation = None if variant == "flat" else (0, valid)
        metrics["partitions"][part] = partition_metrics(counts, domains, violation, n_resamples=N_RESAMPLES)
        parts[part] = {"status": "evaluated", "n_images": len(ids)}
    atomic_write_json(eval_dir / "metrics.json", metrics)
    atomic_write_json(eval_dir / "eval.json", {
        "format": EVAL_FORMAT, "run_dir": str(run_dir), "variant": variant, "arch": info["arch"], "encoder": info["encoder"],
        "fold": manifest.fold, "seed": info["seed"], "params_hash": info["params_hash"], "protocol": manifest.protocol,
        "held_out": manifest.held_out, "split_seed": manifest.seed, "manifest": info["manifest"],
        "cache": info["cache"], "dataset_fingerprint": cache.fingerprint, "mode": "sliding", "consistent": False,
        "hierarchical": variant != "flat", "scored_heads": list(_HEADS), "smoke": True, "partitions": parts,
        "n_resamples": N_RESAMPLES})


def finished_suite(synthetic_cache: Path, base: Path, *, name: str = "demo", n_folds: int = 2,
                   seeds: tuple[int, ...] = (0,), encoders: tuple[str, ...] = (ENCODER,)) -> FinishedSuite:
    """Build (once per ``base`` and ``name``) the fake finished suite of the module docstring (one run per fold,
    variant, encoder and seed; an encoder's name only changes its run directories and identity)."""
    key = (base, name)
    if key in _BUILT:
        return _BUILT[key]
    cache = open_cache(synthetic_cache)
    suite_dir = base / "suites" / name
    suite_dir.mkdir(parents=True)
    (suite_dir / "profile.yaml").write_text(f"name: {name}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifests = make_splits(cache.index, "locontent", 0)[:n_folds]
    manifest_paths = write_manifests(manifests, suite_dir / "splits")
    runs = {}
    for manifest, manifest_path in zip(manifests, manifest_paths):
        for variant, encoder, seed in itertools.product(VARIANTS, encoders, seeds):
            run_dir = suite_dir / "runs" / manifest.fold / variant / encoder / f"seed{seed}"
            run_dir.mkdir(parents=True)
            identity = {"variant": variant, "fold": manifest.fold, "seed": seed, "encoder": encoder}
            info = {**identity, "params": identity, "params_hash": params_hash(identity),
                    "arch": "flat" if variant == "flat" else "hierarchical", "img_size": 64,
                    "cache": str(synthetic_cache), "manifest": str(manifest_path), "status": "finished",
                    "best_checkpoint": "checkpoints/stage1_best.pt"}
            atomic_write_json(run_dir / "run.json", info)
            write_history(run_dir, _history_rows(variant, seed))
            _write_eval(run_dir, cache, manifest, info, variant, seed + 10 * encoders.index(encoder))
            runs[(variant, manifest.fold, seed, encoder)] = run_dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = collect_results(suite_dir, n_resamples=N_RESAMPLES)
        comparisons = compare_variants(suite_dir, n_resamples=N_RESAMPLES, n_permutations=N_RESAMPLES)
    write_results(results, suite_dir / "results")
    write_comparisons(comparisons, suite_dir / "results")
    write_headline(list(runs.values()), suite_dir / "results", n_resamples=N_RESAMPLES, n_permutations=N_RESAMPLES)
    _BUILT[key] = FinishedSuite(suite_dir, synthetic_cache, tuple(m.fold for m in manifests), seeds, runs)
    return _BUILT[key]


_ASSETS: dict[Path, dict[str, Path]] = {}


def paper_assets(suite: FinishedSuite, paper_dir: Path, *, smoke: bool = False) -> dict[str, Path]:
    """Copy ``paper/main.tex`` and ``references.bib`` to ``paper_dir`` and write the suite's assets into
    ``paper_dir/generated/<suite>/`` (figure PNG copies to ``paper_dir/png``) once; returns their paths."""
    if paper_dir not in _ASSETS:
        import shutil

        from heritage_core.report import check_report_params, write_paper_assets

        repo_paper = Path(__file__).resolve().parents[1] / "paper"
        paper_dir.mkdir(parents=True, exist_ok=True)
        for name in ("main.tex", "references.bib"):
            shutil.copyfile(repo_paper / name, paper_dir / name)
        params = check_report_params(suite_dir=suite.suite_dir, output_dir=paper_dir / "generated",
                                     figures_dir=paper_dir / "png", smoke=smoke)
        _ASSETS[paper_dir] = write_paper_assets(params)
    return _ASSETS[paper_dir]
