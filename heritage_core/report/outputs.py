"""What notebook 05 writes, with a provenance sidecar next to every artefact.

Under ``<output_dir>/<suite>/``: ``tables/<name>.tex`` + ``.csv``, ``numbers.tex`` (+ ``numbers.json``),
``figures/<name>.pdf`` + ``.png``; every artefact has a ``<name>.json`` sidecar (suite, run ids, git commit,
source files with their SHA-256, parameters). PNG copies of the figures also go to ``figures_dir``.
"""
from __future__ import annotations

import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from heritage_core.errors import ConfigError, RunError
from heritage_core.report import numbers, tables
from heritage_core.report.build import REQUIRED_ASSETS
from heritage_core.report.figures import (
    QualitativeExample,
    class_distribution_figure,
    class_gap_figure,
    class_iou_heatmap,
    confusion_figure,
    dg_gap_figure,
    qualitative_figure,
    training_curves_figure,
)
from heritage_core.report.inputs import ReportParams, SuiteResults, load_suite
from heritage_core.report.style import FULL_WIDTH_IN, paper_style
from heritage_core.runs import atomic_write_json, atomic_write_text, read_json, save_figure, sha256_file, utc_timestamp
from heritage_core.taxonomy import HEADS, IGNORE_INDEX, default_taxonomy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from heritage_core.splits.report import SplitReport

__all__ = ["provenance", "write_tables", "write_numbers", "FIGURES", "write_figure", "write_paper_assets", "write_index"]


# --------------------------------------------------------------------------- provenance and writing
def provenance(suite: SuiteResults, artefact: str, files: Sequence[Path], sources: Sequence[Path],
               run_ids: Sequence[str], **details: Any) -> dict[str, Any]:
    """The sidecar record of one artefact: suite, run ids, git commit, sources with SHA-256, parameters.

    Args:
        suite: the loaded suite (its ``hashes`` memoise the source hashes).
        artefact: artefact name, e.g. ``figures/dg_gap``.
        files: the files written for it.
        sources: the files it was made from.
        run_ids: ids (``params_hash``) of the runs it shows.
        **details: further parameters to record (head, partition, variants, ...).

    Returns:
        The JSON-ready record.
    """
    records = []
    for src in sources:
        key = str(Path(src))
        if key not in suite.hashes:
            suite.hashes[key] = sha256_file(src)
        records.append({"path": key, "sha256": suite.hashes[key]})
    p = suite.params
    return {
        "artefact": artefact, "files": [str(f) for f in files], "suite": p.suite, "suite_dir": str(p.suite_dir),
        "run_ids": sorted(set(run_ids)), "git_commit": suite.git_commit,
        "created": utc_timestamp(), "sources": records,
        "parameters": {"head": p.head, "encoder": str(suite.results["encoder"].iloc[0]), "variants": suite.variants,
                       "folds": suite.folds, "smoke": p.smoke, **details},
        "formatting": "percent with one decimal; 95 % intervals as [low, high]; NaN as '--'",
    }


def _run_ids(suite: SuiteResults, run_dirs: Sequence[Path] | None = None) -> list[str]:
    if run_dirs is None:
        return sorted(set(suite.results["run_id"]))
    wanted = {str(p) for p in run_dirs}
    return sorted(set(suite.runs.loc[suite.runs["run_dir"].isin(wanted), "run_id"]))


def _encoders(suite: SuiteResults) -> list[str]:
    """The report's encoder first, then the suite's other encoders, sorted."""
    primary = str(suite.results["encoder"].iloc[0])
    return [primary, *sorted(set(suite.results_all_encoders["encoder"]) - {primary})]


def _frames(suite: SuiteResults) -> dict[str, pd.DataFrame]:
    """The main, per-fold and ablation frames (from the headline tables), shared by tables and macros."""
    p = suite.params
    encoder = str(suite.results["encoder"].iloc[0])
    return {
        "main_results": tables.main_results(suite.headline, head=p.head, variants=suite.variants,
                                           encoders=_encoders(suite)),
        "per_fold": tables.per_fold(suite.headline, head=p.head, variants=suite.variants, encoder=encoder),
        "ablation": tables.ablation(suite.headline_comparisons, suite.budgets, suite.comparisons, head=p.head,
                                   encoder=encoder, variants=suite.variants),
    }


def write_tables(suite: SuiteResults) -> dict[str, Path]:
    """Write the main, per-fold, per-class and ablation tables (``.tex``, ``.csv``, ``.json``) under ``tables/``.

    Returns:
        Table name -> its ``.tex`` path.
    """
    p, df = suite.params, suite.results
    taxonomy = default_taxonomy()
    level = p.head.split("_")[0]
    class_names = taxonomy.names(level) if level in HEADS else None
    frames = _frames(suite)
    frames["per_class"] = tables.per_class(df, head=p.head, partition=p.partition, variants=suite.variants,
                                          folds=suite.folds, class_names=class_names)
    frames["per_class_gap"] = tables.per_class(df, head=p.head, partition="gap", variants=suite.variants,
                                              folds=suite.folds, class_names=class_names)
    texts = {
        "main_results": tables.main_results_table(frames["main_results"], head=p.head),
        "per_fold": tables.per_fold_table(frames["per_fold"], head=p.head),
        "per_class": tables.per_class_table(frames["per_class"], head=p.head, partition=p.partition),
        "per_class_gap": tables.per_class_table(frames["per_class_gap"], head=p.head, partition="gap",
                                               label="tab:per_class_gap"),
        "ablation": tables.ablation_table(frames["ablation"], head=p.head),
    }
    out = p.output_dir / "tables"
    paths = {}
    for name, text in texts.items():
        tex = atomic_write_text(out / f"{name}.tex", text)
        csv = atomic_write_text(out / f"{name}.csv", frames[name].to_csv(index=False))
        sources = ([p.results_path] if name.startswith("per_class") else
                   [*suite.headline_paths.values(), suite.comparisons_path])
        run_ids = sorted(set(suite.results_all_encoders["run_id"])) if name == "main_results" else _run_ids(suite)
        atomic_write_json(out / f"{name}.json", provenance(suite, f"tables/{name}", [tex, csv], sources, run_ids,
                                                           partition=p.partition))
        paths[name] = tex
    return paths


def write_numbers(suite: SuiteResults) -> Path:
    """Write ``numbers.tex`` (the macros of :func:`heritage_core.report.number_macros`) and ``numbers.json``.

    Returns:
        The path of ``numbers.tex``.
    """
    p, df = suite.params, suite.results
    frames = _frames(suite)
    macros = numbers.number_macros(frames["main_results"], frames["per_fold"], frames["ablation"], suite=p.suite,
                                 encoder=str(df["encoder"].iloc[0]),
                                 n_runs=int(df["run_id"].nunique()))
    example = suite.example_runs(["curriculum", *suite.variants])
    setup_run = next(iter(example.values()), None)
    run_info = read_json(setup_run / "run.json") if setup_run is not None else None
    macros |= numbers.setup_macros(run_info)
    dataset_json = (_resolve(setup_run, run_info["cache"]) / "dataset.json"
                    if run_info and run_info.get("cache") else None)
    macros |= numbers.dataset_macros(read_json(dataset_json) if dataset_json is not None else None)
    header = (f"Generated by heritage_core.report.write_numbers for suite '{p.suite}' from {p.results_path}; "
              f"do not edit.\nPercent with one decimal; '--' marks an undefined value.")
    path = atomic_write_text(p.output_dir / "numbers.tex", numbers.numbers_tex(macros, header=header))
    sources = [p.results_path, suite.comparisons_path, *suite.headline_paths.values()] + (
        [setup_run / "run.json"] if setup_run is not None else []) + ([dataset_json] if dataset_json else [])
    record = provenance(suite, "numbers", [path], sources, _run_ids(suite))
    atomic_write_json(p.output_dir / "numbers.json", record | {"macros": macros})
    return path


def _save(suite: SuiteResults, fig: Figure, name: str, sources: Sequence[Path], run_ids: Sequence[str],
          **details: Any) -> dict[str, Path]:
    import matplotlib.pyplot as plt

    p = suite.params
    out = p.output_dir / "figures"
    paths: dict[str, Path] = {}
    try:
        paths.update(save_figure(fig, out / name))
    finally:
        plt.close(fig)
    p.figures_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths["png"], p.figures_dir / f".{name}.png.tmp")
    (p.figures_dir / f".{name}.png.tmp").replace(p.figures_dir / f"{name}.png")
    paths["json"] = atomic_write_json(out / f"{name}.json", provenance(
        suite, f"figures/{name}", [paths["pdf"], paths["png"], p.figures_dir / f"{name}.png"], sources, run_ids,
        **details))
    return paths


def _figure_training_curves(suite: SuiteResults) -> tuple[Figure, list[Path], list[Path], dict]:
    from heritage_core.train import read_history

    runs = suite.example_runs(suite.variants)
    histories = {v: read_history(d) for v, d in runs.items() if (d / "history.csv").is_file()}
    if not histories:
        raise RunError(f"no history.csv in the example runs {[str(d) for d in runs.values()]}; the runs are not trained")
    dirs = [runs[v] for v in histories]
    return training_curves_figure(histories), [d / "history.csv" for d in dirs], dirs, {
        "fold": suite.params.example_fold or suite.folds[0]}


def _figure_dg_gap(suite: SuiteResults) -> tuple[Figure, list[Path], list[Path] | None, dict]:
    p = suite.params
    frame = tables.per_fold(suite.headline, head=p.head, variants=suite.variants,
                           encoder=str(suite.results["encoder"].iloc[0]))
    return dg_gap_figure(frame), [*suite.headline_paths.values()], None, {}


def _figure_heatmap(suite: SuiteResults) -> tuple[Figure, list[Path], list[Path] | None, dict]:
    p = suite.params
    fig = class_iou_heatmap(suite.results, head=p.head, partition=p.partition, variants=suite.variants,
                            folds=suite.folds)
    return fig, [p.results_path], None, {"partition": p.partition}


def _compare_variants(suite: SuiteResults) -> list[str]:
    """The ``compare`` variants present; else the first and last variant shown (baseline and full method)."""
    chosen = [v for v in suite.params.compare if v in suite.variants]
    if chosen:
        return chosen
    return list(dict.fromkeys([suite.variants[0], suite.variants[-1]]))


def _figure_confusion(suite: SuiteResults) -> tuple[Figure, list[Path], list[Path], dict]:
    from heritage_core.evaluation.store import load_counts

    p = suite.params
    confusions: dict[str, np.ndarray] = {}
    names: Sequence[str] = ()
    sources, dirs = [], []
    for variant in _compare_variants(suite):
        total = None
        for run_dir in suite.run_dirs(variants=[variant]):
            path = run_dir / "eval" / f"{p.partition}.npz"
            if not path.is_file():
                continue
            counts = load_counts(path).get(p.head)
            if counts is None or counts.confusion is None:
                continue
            total = counts.confusion if total is None else total + counts.confusion
            names = counts.class_names
            sources.append(path)
            dirs.append(run_dir)
        if total is not None:
            confusions[variant] = total
    if not confusions:
        raise RunError(f"no '{p.head}_confusion' in any eval/{p.partition}.npz of variants {_compare_variants(suite)}; "
                       f"evaluate the runs (03_evaluate) first")
    taxonomy = default_taxonomy()
    colours = list(taxonomy.fine_colours) if list(names) == list(taxonomy.fine_names) else None
    return confusion_figure(confusions, list(names), colours), sources, dirs, {"partition": p.partition,
                                                                                 "pooled_over": "folds and seeds"}


def _figure_qualitative(suite: SuiteResults) -> tuple[Figure, list[Path], list[Path], dict]:
    import cv2

    from heritage_core.evaluation.evaluate import downsample_labels, label_targets
    from heritage_core.evaluation.store import load_evaluation, load_predictions

    p = suite.params
    runs = suite.example_runs(_compare_variants(suite))
    if not runs:
        raise RunError(f"no runs of variants {_compare_variants(suite)} in fold {p.example_fold or suite.folds[0]!r}")
    preds = {v: load_predictions(d / "eval" / f"{p.partition}_pred.npz") for v, d in runs.items()}
    cache = load_evaluation(next(iter(runs.values()))).cache()
    common = [i for i in next(iter(preds.values()))["ids"] if all(i in pr["ids"] for pr in preds.values())]
    fine_ids = [i for i in common if cache.label_level(i) == "fine"]
    if p.qualitative_ids:
        missing = [i for i in p.qualitative_ids if i not in fine_ids]
        if missing:
            raise ConfigError(f"qualitative_ids {missing} have no stored fine predictions in eval/{p.partition}_pred.npz "
                              f"of every compared run; choose from {fine_ids[:10]}")
        chosen = list(p.qualitative_ids)
    else:
        n_classes = {i: len(set(np.unique(cache.load_mask(i)).tolist()) - {0, IGNORE_INDEX}) for i in fine_ids}
        chosen = sorted(fine_ids, key=lambda i: (-n_classes[i], i))[: p.n_qualitative]
    held_out = str(suite.runs.loc[suite.runs["run_dir"] == str(next(iter(runs.values()))), "held_out"].iloc[0])
    examples = []
    for item in chosen:
        per_variant = {v: pr["fine"][pr["ids"].index(item)] for v, pr in preds.items()}
        h, w = next(iter(per_variant.values())).shape
        image = cv2.resize(cache.load_image(item), (w, h), interpolation=cv2.INTER_AREA)
        truth = downsample_labels(label_targets(cache.load_mask(item), "fine")["fine"], max(h, w))
        examples.append(QualitativeExample(item, image, truth, per_variant, held_out))
    sources = [d / "eval" / f"{p.partition}_pred.npz" for d in runs.values()] + [cache.root / "index.csv"]
    return qualitative_figure(examples), sources, list(runs.values()), {"partition": p.partition, "ids": chosen,
                                                                          "selection": "most labelled damage classes"
                                                                          if not p.qualitative_ids else "given"}


def _split_report(suite: SuiteResults) -> tuple[SplitReport, list[Path], list[Path]]:
    from heritage_core.data.cache import open_cache
    from heritage_core.splits.protocols import load_manifest
    from heritage_core.splits.report import build_report, compute_class_histograms

    dirs = suite.run_dirs()
    manifests, paths, cache = [], [], None
    for run_dir in dirs:
        info = read_json(run_dir / "run.json")
        path, cache_path = _resolve(run_dir, info["manifest"]), _resolve(run_dir, info["cache"])
        cache = cache or open_cache(cache_path)
        if path not in paths:
            paths.append(path)
            manifests.append(load_manifest(path, cache))
    if cache is None:
        raise RunError(f"no evaluated runs in '{suite.params.suite_dir}' name a cache and manifest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-partition warnings are the split report's business (notebook 01)
        report = build_report(manifests, cache.index, compute_class_histograms(cache), min_items=0)
    return report, paths + [cache.root / "index.csv"], dirs


def _resolve(run_dir: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() or path.exists() else run_dir / path


def _figure_composition(suite: SuiteResults) -> tuple[Figure, list[Path], list[Path], dict]:
    from heritage_core.splits.report import composition_figure

    report, sources, dirs = _split_report(suite)
    protocol = str(report.composition["protocol"].iloc[0])
    by = ("material",) if protocol == "lomaterial" else ("content",)
    fig = composition_figure(report, by=by)
    for ax in fig.axes:  # the caption says what the panel shows; the figure is sized for the page width
        ax.set_title("")
    fig.set_size_inches(FULL_WIDTH_IN, 3.0)
    return fig, sources, dirs, {"by": by[0]}


def _figure_class_gap(suite: SuiteResults) -> tuple[Figure, list[Path], list[Path] | None, dict]:
    p = suite.params
    fig = class_gap_figure(suite.results, head=p.head, variants=suite.variants, folds=suite.folds)
    return fig, [p.results_path], None, {"partition": "gap", "class_set": "common"}


def _figure_distribution(suite: SuiteResults) -> tuple[Figure, list[Path], list[Path], dict]:
    report, sources, dirs = _split_report(suite)
    return class_distribution_figure(report), sources, dirs, {"pooled_over": "folds"}


#: Figure name -> builder (suite -> figure, sources, run dirs shown or None for all, details).
FIGURES: dict[str, Callable[[SuiteResults], tuple[Any, list[Path], list[Path] | None, dict]]] = {
    "training_curves": _figure_training_curves,
    "dg_gap": _figure_dg_gap,
    "class_iou_heatmap": _figure_heatmap,
    "class_gap": _figure_class_gap,
    "confusion": _figure_confusion,
    "qualitative": _figure_qualitative,
    "split_composition": _figure_composition,
    "class_distribution": _figure_distribution,
}


def write_figure(suite: SuiteResults, name: str) -> dict[str, Path]:
    """Make one figure of :data:`FIGURES` in :func:`paper_style` and write its PDF, PNG, PNG copy and sidecar.

    Args:
        suite: the loaded suite.
        name: a key of :data:`FIGURES`.

    Returns:
        ``{"pdf", "png", "json"}`` paths.

    Raises:
        ConfigError: an unknown figure name.
        RunError: the runs lack what the figure needs (history, counts, stored predictions).
    """
    if name not in FIGURES:
        raise ConfigError(f"unknown figure {name!r}; allowed are {sorted(FIGURES)}")
    with paper_style():
        fig, sources, run_dirs, details = FIGURES[name](suite)
        return _save(suite, fig, name, sources, _run_ids(suite, run_dirs), **details)


def write_paper_assets(params: ReportParams) -> dict[str, Path]:
    """Everything notebook 05 writes, in one call: tables, numbers and every figure.

    Returns:
        Artefact (``tables/<name>``, ``numbers``, ``figures/<name>``) -> its ``.tex`` / ``.pdf`` path; the file
        list goes to ``<output_dir>/<suite>/assets.json`` (:func:`write_index`).
    """
    suite = load_suite(params)
    out: dict[str, Path] = {f"tables/{k}": v for k, v in write_tables(suite).items()}
    out["numbers"] = write_numbers(suite)
    for name in FIGURES:
        out[f"figures/{name}"] = write_figure(suite, name)["pdf"]
    write_index(suite)
    return out


def write_index(suite: SuiteResults) -> pd.DataFrame:
    """List every generated file of the suite (``assets.json``) and what the paper build still lacks.

    Returns:
        One row per file of :data:`heritage_core.report.REQUIRED_ASSETS`: ``asset``, ``path``, ``exists``.
    """
    root = suite.params.output_dir
    rows = [{"asset": rel, "path": str(root / rel), "exists": (root / rel).is_file()} for rel in REQUIRED_ASSETS]
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != "assets.json")
    atomic_write_json(root / "assets.json", {"suite": suite.params.suite, "files": files,
                                             "missing_for_paper": [r["asset"] for r in rows if not r["exists"]]})
    return pd.DataFrame(rows, columns=["asset", "path", "exists"])
