"""heritage_core.report: paper style, figures (sizes, fonts, n/a cells, no overlapping text), provenance, outputs."""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from report_builders import VARIANTS, finished_suite, paper_assets

from heritage_core import report
from heritage_core.evaluation.dg import VARIANT_ORDER
from heritage_core.errors import ConfigError, RunError
from heritage_core.runs import sha256_file
from heritage_core.taxonomy import default_taxonomy

MIN_FONT_PT = 7


@pytest.fixture(scope="module")
def built(synthetic_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    base = tmp_path_factory.getbasetemp() / "report_suite"
    suite = finished_suite(synthetic_cache, base)
    return suite, paper_assets(suite, base / "paper"), base / "paper"


@pytest.fixture(scope="module")
def loaded(built: tuple, tmp_path_factory: pytest.TempPathFactory) -> report.SuiteResults:
    suite = built[0]
    out = tmp_path_factory.mktemp("loaded")
    return report.load_suite(report.check_report_params(suite_dir=suite.suite_dir, output_dir=out / "generated",
                                                        figures_dir=out / "png"))


def test_paper_style_is_scoped_and_readable() -> None:
    before = dict(matplotlib.rcParams)
    with report.paper_style():
        assert matplotlib.rcParams["font.size"] >= 8 and matplotlib.rcParams["xtick.labelsize"] >= MIN_FONT_PT
        assert matplotlib.rcParams["legend.fontsize"] >= MIN_FONT_PT and matplotlib.rcParams["pdf.fonttype"] == 42
    assert {k: v for k, v in matplotlib.rcParams.items() if k in report.PAPER_RC} == \
           {k: v for k, v in before.items() if k in report.PAPER_RC}
    # every variant of the ablation and the all-Clean floor has its own colour and marker
    assert set(report.VARIANT_COLOURS) == set(report.VARIANT_MARKERS) == {*VARIANT_ORDER, "all_clean"}
    assert len(set(report.VARIANT_COLOURS.values())) == len(report.VARIANT_COLOURS)
    assert len(set(report.VARIANT_MARKERS.values())) == len(report.VARIANT_MARKERS)


def _texts(fig: matplotlib.figure.Figure) -> list[matplotlib.text.Text]:
    """Every text the figure draws: figure texts, legends, titles, axis labels, annotations and the tick labels
    inside the view limits (matplotlib keeps hidden Text objects for ticks outside them)."""
    fig.canvas.draw()
    texts = list(fig.texts)
    for legend in fig.legends:
        texts += [*legend.get_texts(), legend.get_title()]
    for ax in fig.axes:
        texts += [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            low, high = sorted(limits)
            texts += [label for tick in axis.get_major_ticks() if low <= tick.get_loc() <= high
                      for label in (tick.label1, tick.label2)]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("name", sorted(report.FIGURES))
def test_figures_are_sized_for_the_paper_with_readable_non_overlapping_text(loaded: report.SuiteResults,
                                                                            name: str) -> None:
    import matplotlib.pyplot as plt

    with report.paper_style():
        fig, sources, _, _ = report.FIGURES[name](loaded)
        try:
            assert fig.get_size_inches()[0] in (report.COLUMN_WIDTH_IN, report.FULL_WIDTH_IN)
            texts = _texts(fig)
            small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < MIN_FONT_PT]
            assert not small, f"{name}: text below {MIN_FONT_PT} pt: {small[:5]}"
            boxes = [(t.get_text(), t.get_window_extent().shrunk(0.9, 0.8)) for t in texts]
            clashes = [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]
            assert not clashes, f"{name}: overlapping text {clashes[:5]}"
            assert sources and all(Path(s).is_file() for s in sources)
        finally:
            plt.close(fig)


def test_heatmap_and_confusion_show_absent_classes_as_na(loaded: report.SuiteResults) -> None:
    import matplotlib.pyplot as plt

    df = loaded.results.copy()
    absent = (df["metric"] == "iou") & (df["class_name"] == "Hair") & (df["variant"] == "flat")
    df.loc[absent, "value"] = np.nan
    names = default_taxonomy().fine_names
    conf = np.eye(len(names), dtype=np.int64) * 10
    conf[3] = 0  # Dust: no labelled pixels
    with report.paper_style():
        heat = report.class_iou_heatmap(df, variants=["flat", "curriculum"])
        confusion = report.confusion_figure({"flat": conf}, names, default_taxonomy().fine_colours)
    try:
        flat_panel = heat.axes[0]
        assert sum(t.get_text() == "n/a" for t in flat_panel.texts) == len(loaded.folds)
        assert [ax.get_title() for ax in heat.axes[:3]] == ["Flat", "Curriculum", "All-Clean (floor)"]
        assert sum(t.get_text() == "n/a" for t in _texts(confusion)) == 1
    finally:
        plt.close(heat)
        plt.close(confusion)


def test_assets_have_provenance_and_png_copies(built: tuple) -> None:
    suite, assets, paper_dir = built
    out = paper_dir / "generated" / suite.name
    assert all((out / rel).is_file() for rel in report.REQUIRED_ASSETS)
    assert set(assets) == {f"tables/{t}" for t in ("main_results", "per_fold", "per_class", "per_class_gap",
                                                   "ablation")} | {
        "numbers"} | {f"figures/{f}" for f in report.FIGURES}
    run_ids = {json.loads((d / "run.json").read_text())["params_hash"] for d in suite.runs.values()}
    for sidecar in [*out.glob("tables/*.json"), *out.glob("figures/*.json"), out / "numbers.json"]:
        record = json.loads(sidecar.read_text())
        assert record["suite"] == suite.name and "git_commit" in record and record["sources"]
        assert set(record["run_ids"]) <= run_ids and record["run_ids"]
        for source in record["sources"]:
            assert sha256_file(source["path"]) == source["sha256"]
        assert all(Path(f).is_file() for f in record["files"])
    main = json.loads((out / "tables" / "main_results.json").read_text())
    assert set(main["run_ids"]) == run_ids and main["sources"][0]["path"].endswith("headline.csv")
    for name in report.FIGURES:
        assert (paper_dir / "png" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    frame = pd.read_csv(out / "tables" / "main_results.csv")
    assert set(frame["variant"]) == {*VARIANTS, "all_clean"} and frame["mean"].between(-1, 1).all()
    index = json.loads((out / "assets.json").read_text())
    assert index["missing_for_paper"] == [] and "numbers.tex" in index["files"]


def test_several_encoders_share_the_main_table_and_the_rest_shows_one(synthetic_cache: Path,
                                                                      tmp_path_factory: pytest.TempPathFactory,
                                                                      tmp_path: Path) -> None:
    duo = finished_suite(synthetic_cache, tmp_path_factory.getbasetemp() / "report_suite", name="duo", n_folds=1,
                         encoders=("convnext_atto", "mit_b0"))
    with pytest.raises(ConfigError, match=r"has encoders \['convnext_atto', 'mit_b0'\]"):
        report.load_suite(report.check_report_params(suite_dir=duo.suite_dir, output_dir=tmp_path))
    loaded = report.load_suite(report.check_report_params(suite_dir=duo.suite_dir, output_dir=tmp_path,
                                                          encoder="mit_b0"))
    assert set(loaded.results["encoder"]) == {"mit_b0"} and set(loaded.comparisons["encoder"]) == {"mit_b0"}
    tables = report.write_tables(loaded)
    main = tables["main_results"].read_text()
    assert "\\begin{table*}" in main and main.index("mit\\_b0") < main.index("convnext\\_atto")
    assert "convnext" not in tables["per_fold"].read_text()
    macros = report.parse_numbers_tex(report.write_numbers(loaded).read_text())
    frame = pd.read_csv(tmp_path / "duo" / "tables" / "main_results.csv").set_index(["encoder", "variant", "partition"])
    assert macros["CurriculumOODmIoU"] == report.format_percent(frame.loc[("mit_b0", "curriculum", "ood_test"), "mean"])
    assert macros["CurriculumOODmIoUConvnextAtto"] == report.format_percent(
        frame.loc[("convnext_atto", "curriculum", "ood_test"), "mean"])
    record = json.loads((tmp_path / "duo" / "tables" / "main_results.json").read_text())
    assert len(record["run_ids"]) == 2 * len(VARIANTS)


def test_check_report_params_names_bad_values(built: tuple, tmp_path: Path) -> None:
    suite = built[0]
    with pytest.raises(RunError, match="not a folder"):
        report.check_report_params(suite_dir=tmp_path / "nope")
    with pytest.raises(RunError, match="no results table"):
        report.check_report_params(suite_dir=tmp_path)
    with pytest.raises(ConfigError, match="partition is 'val'"):
        report.check_report_params(suite_dir=suite.suite_dir, partition="val")
    with pytest.raises(ConfigError, match="variants is 'flat'"):
        report.check_report_params(suite_dir=suite.suite_dir, variants="flat")
    params = report.check_report_params(suite_dir=suite.suite_dir, output_dir=tmp_path, smoke=True)
    assert params.output_dir == tmp_path / suite.name and params.n_qualitative == 1 and params.n_resamples == 200
    assert params.figures_dir == suite.suite_dir / "figures" and params.comparisons_path is not None
    with pytest.raises(ConfigError, match=r"\['transformer'\] are not in the results table"):
        report.load_suite(report.check_report_params(suite_dir=suite.suite_dir, variants=["transformer"]))
    with pytest.raises(ConfigError, match="has encoders \\['convnext_atto'\\]"):
        report.load_suite(report.check_report_params(suite_dir=suite.suite_dir, encoder="resnet"))
    bad_ids = report.check_report_params(suite_dir=suite.suite_dir, output_dir=tmp_path, figures_dir=tmp_path / "png",
                                         qualitative_ids=["no_such_item"])
    with pytest.raises(ConfigError, match="qualitative_ids \\['no_such_item'\\]"):
        report.write_figure(report.load_suite(bad_ids), "qualitative")
    with pytest.raises(ConfigError, match="unknown figure"):
        report.write_figure(report.load_suite(bad_ids), "pie_chart")


def test_missing_comparisons_are_computed_from_stored_counts(built: tuple, tmp_path: Path) -> None:
    suite = built[0]
    results = tmp_path / "results"
    results.mkdir()
    shutil.copyfile(suite.results_dir / "results.parquet", results / "results.parquet")
    params = report.check_report_params(suite_dir=suite.suite_dir, results_dir=results, output_dir=tmp_path / "gen",
                                        variants=["flat", "curriculum"], smoke=True)
    assert params.comparisons_path is None
    loaded = report.load_suite(params)
    assert loaded.comparisons_path == tmp_path / "gen" / suite.name / "tables" / "comparisons.csv"
    assert set(zip(loaded.comparisons["variant_a"], loaded.comparisons["variant_b"])) == {("flat", "curriculum")}
    assert len(loaded.comparisons) == 2 * len(suite.folds) * len(suite.seeds)  # id_test and ood_test per fold


def test_real_pipeline_outputs(evaluated_tiny_suite, tmp_path: Path) -> None:
    """The report on runs made by the real trainer and evaluator (tests/eval_builders.py's tiny suite)."""
    suite_dir = evaluated_tiny_suite[0].suite_dir
    assert len(sorted(suite_dir.glob("runs/*/*/*/seed*/eval/eval.json"))) == 3
    import warnings

    from heritage_core.evaluation.dg import collect_results, write_results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_results(collect_results(suite_dir, n_resamples=50), tmp_path / "results")
    params = report.check_report_params(suite_dir=suite_dir, results_dir=tmp_path / "results",
                                        output_dir=tmp_path / "generated", figures_dir=tmp_path / "png", smoke=True)
    report.write_paper_assets(params)
    assert report.missing_assets("tiny", tmp_path) == []
    main = pd.read_csv(tmp_path / "generated" / "tiny" / "tables" / "main_results.csv")
    assert set(main["variant"]) == {"flat", "hierarchical", "all_clean"}
    assert main["n_folds"].max() == 2  # photographic_depiction and the random protocol's "all"
    curves = json.loads((tmp_path / "generated" / "tiny" / "figures" / "training_curves.json").read_text())
    assert all(s["path"].endswith("history.csv") for s in curves["sources"]) and len(curves["sources"]) == 2


def test_plot_history_draws_a_run_as_the_paper_does(built: tuple, tmp_path: Path) -> None:
    from heritage_core.report.train_plots import plot_history, save_history_figure

    suite = built[0]
    run_dir = suite.runs[("curriculum", suite.folds[0], 0, "convnext_atto")]
    saved = save_history_figure(run_dir, tmp_path, name="curves")
    assert saved == {"pdf": tmp_path / "curves.pdf", "png": tmp_path / "curves.png"}
    assert all(p.stat().st_size > 0 for p in saved.values())
    fig = plot_history(run_dir)
    top, bottom = fig.axes[:2]
    assert top.get_title().startswith("Curriculum\n1 binary · 2 coarse · 3 fine")  # variant read from run.json
    assert bottom.get_ylabel() == "val mIoU (%)" and len(bottom.lines) >= 3  # a val curve per head, selections
    history = pd.read_csv(run_dir / "history.csv")
    assert plot_history(history).axes[0].get_title().startswith("run\n")  # a bare history names no variant
