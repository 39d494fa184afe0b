"""heritage_core.report: aggregation and its intervals, the formatting rule, tables, number macros, the PDF build."""
from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_builders import finished_suite, paper_assets

from heritage_core import report
from heritage_core.evaluation.dg import RESULT_COLUMNS
from heritage_core.errors import ConfigError, SuiteError
from heritage_core.evaluation.headline import BUDGET_COLUMNS, COMPARISON_HEADLINE_COLUMNS
from heritage_core.evaluation.metrics import ABSENT_CLASS_RULE
from heritage_core.report.aggregate import format_p

HAS_TEX = all(shutil.which(tool) for tool in ("latexmk", "pdflatex", "bibtex"))
needs_tex = pytest.mark.skipif(not HAS_TEX, reason="no TeX installation (latexmk, pdflatex, bibtex); install "
                               "latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended")
NAN = float("nan")


def tidy(rows: list[dict]) -> pd.DataFrame:
    """A tidy results table (collect_results schema) from partial rows."""
    base = dict(suite="t", run_id="", variant="flat", arch="flat", encoder="enc", fold="f1", held_out="Fold one",
                seed=0, partition="ood_test", head="fine", metric="miou", class_name="", value=NAN, ci_low=NAN,
                ci_high=NAN, n_images=10, domain="")
    out = pd.DataFrame([base | r for r in rows], columns=list(RESULT_COLUMNS))
    out["run_id"] = out["variant"] + "-" + out["fold"] + "-" + out["seed"].astype(str)
    return out


# --------------------------------------------------------------------------- estimate
def test_estimate_single_run_is_its_own_bootstrap_interval() -> None:
    est = report.estimate(tidy([dict(value=0.5, ci_low=0.4, ci_high=0.62)]))
    assert (est.mean, est.low, est.high, est.method, est.n_folds, est.n_seeds) == (0.5, 0.4, 0.62, "bootstrap", 1, 1)


def test_estimate_one_seed_combines_fold_intervals_as_normal_errors() -> None:
    # s_f = 0.2 / 3.92 for both folds; half-width = 1.96 * sqrt(2 s^2) / 2 = 0.05 * sqrt(2)
    rows = tidy([dict(fold="f1", value=0.4, ci_low=0.3, ci_high=0.5), dict(fold="f2", value=0.6, ci_low=0.5, ci_high=0.7)])
    est = report.estimate(rows)
    assert est.method == "combined" and est.n_folds == 2 and est.mean == pytest.approx(0.5)
    assert est.low == pytest.approx(0.5 - 0.05 * math.sqrt(2)) and est.high == pytest.approx(0.5 + 0.05 * math.sqrt(2))


def test_estimate_several_seeds_is_a_t_interval_over_seed_means() -> None:
    rows = tidy([dict(fold="f1", seed=0, value=0.4), dict(fold="f2", seed=0, value=0.6),
                 dict(fold="f1", seed=1, value=0.5), dict(fold="f2", seed=1, value=0.7)])
    est = report.estimate(rows)
    # seed means 0.5 and 0.6: mean 0.55, SE = 0.0707107 / sqrt(2) = 0.05, t(0.975, 1) = 12.7062
    assert est.method == "seeds" and est.n_seeds == 2 and est.mean == pytest.approx(0.55)
    assert est.high - est.mean == pytest.approx(12.7062047 * 0.05, rel=1e-6)


def test_estimate_leaves_out_absent_classes_and_reports_none() -> None:
    rows = tidy([dict(fold="f1", value=NAN), dict(fold="f2", value=0.3, ci_low=0.2, ci_high=0.4)])
    assert report.estimate(rows).mean == pytest.approx(0.3) and report.estimate(rows).method == "bootstrap"
    empty = report.estimate(tidy([dict(value=NAN)]))
    assert math.isnan(empty.mean) and empty.method == "none"
    no_ci = report.estimate(tidy([dict(fold="f1", value=0.2), dict(fold="f2", value=0.4)]))
    assert no_ci.mean == pytest.approx(0.3) and math.isnan(no_ci.low) and no_ci.method == "none"


# --------------------------------------------------------------------------- formatting
@pytest.mark.parametrize(("value", "kwargs", "text"), [
    (0.5734, {}, "57.3"), (0.05, {}, "5.0"), (-0.052, {}, "$-$5.2"), (-0.052, {"tex": False}, "-5.2"),
    (-0.0004, {}, "0.0"), (0.021, {"signed": True}, "+2.1"), (0.0, {"signed": True}, "0.0"), (NAN, {}, "--"),
])
def test_format_percent(value: float, kwargs: dict, text: str) -> None:
    assert report.format_percent(value, **kwargs) == text


def test_format_interval_and_escape_and_macro_names() -> None:
    assert report.format_interval(0.1, 0.2345) == "[10.0, 23.4]"
    assert report.format_interval(-0.1, NAN) == "--"
    assert report.tex_escape("a_b & 5% #1") == r"a\_b \& 5\% \#1"
    assert report.macro_name("curriculum_only", "OOD", "mIoU") == "CurriculumOnlyOODMIoU"
    assert report.macro_name("photographic_depiction") == "PhotographicDepiction"
    assert report.macro_name("lime plaster2", "f10") == "LimePlasterTwoFOneZero"
    with pytest.raises(ConfigError, match="letters"):
        report.macro_name("_-_")


# --------------------------------------------------------------------------- tables on a hand-made table
def small_table() -> pd.DataFrame:
    rows = []
    for variant, (id_v, ood_v) in {"flat": (0.50, 0.30), "curriculum": (0.60, 0.45)}.items():
        for fold in ("f1", "f2"):
            held = {"f1": "Fold one", "f2": "Fold two"}[fold]
            for part, v in (("id_test", id_v), ("ood_test", ood_v), ("gap", id_v - ood_v)):
                rows.append(dict(variant=variant, fold=fold, held_out=held, partition=part, value=v,
                                 ci_low=v - 0.05, ci_high=v + 0.05))
            for k, name in enumerate(("Clean", "Dust")):
                absent = variant == "flat" and name == "Dust" and fold == "f1"
                rows.append(dict(variant=variant, fold=fold, held_out=held, metric="iou", class_name=name,
                                 value=NAN if absent else 0.2 + 0.1 * k))
                rows.append(dict(variant=variant, fold=fold, held_out=held, metric="support_px", class_name=name,
                                 value=1000.0 * (k + 1)))
    return tidy(rows)


# Headline rows (heritage_core.evaluation.headline): two folds, one seed; values in fractions.
#   variant      ID    OOD   (per fold f1 / f2 and over folds "")
HEADLINE = {"flat": ((0.40, 0.20), (0.50, 0.30)), "curriculum": ((0.45, 0.35), (0.55, 0.45)),
            "all_clean": ((0.08, 0.06), (0.10, 0.08))}


def headline_table(encoder: str = "enc", shift: float = 0.0, incomplete: tuple[str, str] | None = None) -> pd.DataFrame:
    """A headline.csv frame of HEADLINE (intervals ±0.05, floor ±0.01); ``incomplete`` = (variant, fold) lacks a run."""
    rows = []
    for variant, folds in HEADLINE.items():
        per_fold = {"f1": folds[0], "f2": folds[1]}
        per_fold[""] = tuple(np.mean([f[k] for f in folds]) for k in range(2))
        for fold, (id_, ood) in per_fold.items():
            complete = incomplete is None or (variant, fold) not in (incomplete, (incomplete[0], ""))
            half = 0.01 if variant == "all_clean" else 0.05
            for part, v in (("id_test", id_ + shift), ("ood_test", ood + shift), ("gap", id_ - ood)):
                rows.append(dict(encoder=encoder, head="fine", variant=variant, fold=fold,
                                 held_out={"f1": "Fold one", "f2": "Fold two"}.get(fold, ""), partition=part,
                                 mean=v if complete else NAN, low=v - half if complete else NAN,
                                 high=v + half if complete else NAN, n_folds=1 if fold else 2, n_seeds=1,
                                 n_runs=1 if fold else 2, complete=complete, n_classes=7.0 if fold != "f2" else 9.0))
    return pd.DataFrame(rows)


def test_main_results_frame_and_table() -> None:
    frame = report.main_results(headline_table())
    assert frame["variant"].tolist() == ["flat"] * 3 + ["curriculum"] * 3 + ["all_clean"] * 3
    means = frame.set_index(["variant", "partition"])["mean"]
    assert means["curriculum", "ood_test"] == pytest.approx(0.40) and means["flat", "gap"] == pytest.approx(0.2)
    assert means["all_clean", "id_test"] == pytest.approx(0.09)
    text = report.main_results_table(frame)
    assert "\\toprule" in text and "\\bottomrule" in text and "\\label{tab:main_results}" in text
    assert "\\valci{\\textbf{40.0}}" in text  # best OOD: curriculum
    assert "\\valci{\\textbf{10.0}}" in text  # smallest absolute gap: curriculum
    assert "All-Clean (floor) & \\valci{9.0}" in text  # the floor's row, never bold
    assert "$^\\dagger$" not in text.split("\\label")[1]  # every model clears its floor here
    assert "(7 of 16 classes)" in text
    assert report.tex_escape(ABSENT_CLASS_RULE) in text and "bootstrap of the test images" in text


def test_a_result_below_its_floor_is_marked_and_an_incomplete_grid_is_x() -> None:
    low = headline_table()
    low.loc[(low["variant"] == "flat") & (low["partition"] == "ood_test"), "low"] = 0.05  # below the floor's 0.07
    text = report.main_results_table(report.main_results(low))
    assert "25.0$^\\dagger$" in text
    frame = report.main_results(headline_table(incomplete=("curriculum", "f2")))
    assert not frame[frame["variant"] == "curriculum"]["complete"].any()
    row = [line for line in report.main_results_table(frame).splitlines() if line.startswith("Curriculum")][0]
    assert row.count("X") == 3 and "nan" not in row
    folds = report.per_fold_table(report.per_fold(headline_table(incomplete=("curriculum", "f2"))))
    assert "Curriculum & X & X & X" in folds and "Curriculum & \\textbf{45.0}" in folds


def test_main_results_compare_encoders_with_the_primary_one_unqualified() -> None:
    df = pd.concat([headline_table(), headline_table("mit_b3", shift=-0.15)])
    frame = report.main_results(df, encoders=["enc", "mit_b3"])
    assert frame["encoder"].tolist() == ["enc"] * 9 + ["mit_b3"] * 9
    text = report.main_results_table(frame)
    assert "\\begin{table*}" in text and "\\texttt{mit\\_b3} & Flat &" in text and text.count("\\midrule") == 2
    assert text.count("\\textbf{40.0}") == 1 and text.count("\\textbf{25.0}") == 1  # best OOD per encoder
    empty = report.ablation(pd.DataFrame(columns=list(COMPARISON_HEADLINE_COLUMNS)), pd.DataFrame(columns=list(BUDGET_COLUMNS)),
                           pd.DataFrame(columns=["encoder", "head", "variant_a", "variant_b", "partition", "significant"]))
    macros = report.number_macros(frame, report.per_fold(headline_table()), empty, suite="s", encoder="enc", n_runs=4)
    assert macros["CurriculumOODmIoU"] == "40.0" and macros["CurriculumOODmIoUMitBThree"] == "25.0"
    assert macros["FlatIDmIoULowMitBThree"] == "25.0" and macros["AllCleanIDmIoU"] == "9.0"
    assert macros["FlatClearsFloorOOD"] == "yes" and macros["NumClassesCommon"] == "7--9"


def _budgets() -> pd.DataFrame:
    rows = [dict(encoder="enc", variant=v, loss=l, schedule=sch, head_order=o, epochs=60, steps=1200, fine_steps=f,
                 summed_lr=lr, n_runs=2)
            for v, l, sch, o, f, lr in (("flat", "fine", "one stage", "--", 1200, 1.9),
                                        ("curriculum", "hierarchical", "staged", "coarse to fine", 720, 1.7))]
    return pd.DataFrame(rows, columns=list(BUDGET_COLUMNS))


def _headline_comparisons() -> pd.DataFrame:
    base = dict(encoder="enc", head="fine", n_pairs=2, complete=True, significant=False)
    rows = [dict(base, partition="id_test", variant_a="flat", variant_b="curriculum", mean=-0.02, low=-0.06, high=0.02,
                 p_sign_flip=0.5, p_holm=0.5),
            dict(base, partition="ood_test", variant_a="flat", variant_b="curriculum", mean=0.10, low=0.05, high=0.15,
                 p_sign_flip=0.5, p_holm=0.5),
            dict(base, partition="id_test", variant_a="all_clean", variant_b="flat", mean=0.36, low=0.30, high=0.40,
                 p_sign_flip=0.5, p_holm=NAN),
            dict(base, partition="ood_test", variant_a="all_clean", variant_b="flat", mean=0.18, low=0.10, high=0.25,
                 p_sign_flip=0.5, p_holm=NAN)]
    return pd.DataFrame(rows, columns=list(COMPARISON_HEADLINE_COLUMNS))


def test_ablation_rows_show_factors_budget_and_the_across_run_test() -> None:
    per_run = pd.DataFrame([dict(encoder="enc", head="fine", partition="ood_test", variant_a="flat",
                                 variant_b="curriculum", significant=s) for s in (True, False)])
    frame = report.ablation(_headline_comparisons(), _budgets(), per_run)
    assert frame["variant"].tolist() == ["flat"] * 2 + ["curriculum"] * 2 + ["all_clean"] * 2
    cur = frame[(frame["variant"] == "curriculum") & (frame["partition"] == "ood_test")].iloc[0]
    assert (cur["mean"], cur["n_pairs"], cur["n_significant"], cur["n"]) == (0.10, 2, 1, 2)
    floor = frame[(frame["variant"] == "all_clean") & (frame["partition"] == "id_test")].iloc[0]
    assert floor["mean"] == pytest.approx(-0.36) and (floor["low"], floor["high"]) == pytest.approx((-0.40, -0.30))
    text = report.ablation_table(frame)
    assert "Flat & fine & one stage & -- & 1200 & 1200 & 1.9 & 0 (ref.) & -- & 0 (ref.) & -- \\\\" in text
    assert ("Curriculum & hierarchical & staged & coarse to fine & 1200 & 720 & 1.7 & $-$2.0 {\\scriptsize "
            "[$-$6.0, 2.0]} & 0.500 & +10.0 {\\scriptsize [5.0, 15.0]} & 0.500 (1/2) \\\\") in text
    assert "All-Clean (floor) &" in text and "2 paired (fold, seed) runs" in text
    incomplete = report.ablation(_headline_comparisons().assign(complete=False), _budgets(), per_run)
    assert "X & X" in report.ablation_table(incomplete)


def test_per_class_table_marks_absent_classes_and_support() -> None:
    frame = report.per_class(small_table(), class_names=["Clean", "Dust"])
    dust = frame[(frame["class_name"] == "Dust") & (frame["variant"] == "flat")].iloc[0]
    assert dust["mean"] == pytest.approx(0.3) and dust["n_folds"] == 1  # the absent fold is left out
    assert dust["support_px"] == 4000.0  # 2000 px per fold, summed over folds of one variant and seed
    table = report.per_class_table(frame)
    assert "Dust & 4.0\\,k & \\textbf{30.0} & \\textbf{30.0}" in table  # ties are both bold
    everything_absent = report.per_class(small_table().assign(value=NAN))
    assert "--" in report.per_class_table(everything_absent)


# --------------------------------------------------------------------------- macros
def test_number_macros_round_trip_and_cover_every_variant() -> None:
    df = headline_table()
    main, folds = report.main_results(df), report.per_fold(df)
    ablation = report.ablation(_headline_comparisons(), _budgets(), pd.DataFrame())
    macros = report.number_macros(main, folds, ablation, suite="my_suite", encoder="convnext_tiny", n_runs=4)
    parsed = report.parse_numbers_tex(report.numbers_tex(macros, header="test\nheader"))
    assert parsed["CurriculumOODmIoU"] == "40.0" and parsed["FlatGapmIoUFTwo"] == "20.0"
    assert parsed["AllCleanOODmIoU"] == "7.0" and parsed["AllCleanIDmIoUFOne"] == "8.0"
    assert parsed["HierarchicalOODmIoU"] == "--"  # absent variant: defined, so the text still compiles
    assert parsed["CurriculumVsFlatOODDelta"] == "+10.0" and parsed["CurriculumVsFlatOODP"] == "0.500"
    assert parsed["CurriculumVsFlatOODDeltaLow"] == "5.0" and parsed["HierarchicalVsFlatOODDelta"] == "--"
    assert parsed["NumFolds"] == "2" and parsed["NumRuns"] == "4" and parsed["NumSeeds"] == "1"
    assert parsed["SuiteName"] == "my\\_suite" and parsed["HeldOutDomains"] == "Fold one, Fold two"
    assert all(re.fullmatch(r"[A-Za-z]+", name) for name in parsed)
    with pytest.raises(ConfigError, match="letters only"):
        report.numbers_tex({"Bad1": "x"})


def test_setup_macros_from_run_json() -> None:
    info = {"img_size": 512, "params": {"batch_size": 8, "loss_weights": {"binary": 0.2, "coarse": 0.3, "fine": 1.0}},
            "stages": [{"name": "binary", "epochs": 20, "lr": 1e-5}, {"name": "coarse", "epochs": 20, "lr": 5e-5},
                       {"name": "fine", "epochs": 60, "lr": 1e-4}]}
    m = report.setup_macros(info)
    assert m["StageEpochs"] == "20, 20 and 60" and m["TotalEpochs"] == "100" and m["ImgSize"] == "512"
    assert m["StageLearningRates"].startswith("$1{\\times}10^{-5}$, $5{\\times}10^{-5}$ and")
    assert m["LossWeightCoarse"] == "0.3" and report.setup_macros(None)["StageNames"] == "--"
    assert m["ClassWeighting"] == "" and report.setup_macros(None)["ClassWeighting"] == ""
    weighted = {**info, "params": {**info["params"], "class_weights": True},
                "class_weights": {"fine": {"method": "inverse_sqrt"}, "coarse": {"method": "inverse_sqrt"}}}
    assert "inverse square root of its pixel frequency in the training partition" in \
        report.setup_macros(weighted)["ClassWeighting"]


def test_dataset_macros_never_present_synthetic_data_as_artefact() -> None:
    synthetic = report.dataset_macros({"n_items": 160, "kind": "parquet", "source": "/x/suites/demo/data",
                                       "synthetic": {"n": 160, "seed": 0}})
    assert "not ARTeFACT results" in synthetic["DatasetNote"] and synthetic["NumImages"] == "160"
    assert synthetic["DatasetDescription"].startswith("160 procedurally generated images")
    real = report.dataset_macros({"n_items": 418, "kind": "parquet", "source": "/d/artefact", "synthetic": None})
    assert (real["DatasetName"], real["DatasetDescription"], real["DatasetNote"]) == (
        "ARTeFACT", "ARTeFACT's 418 images", "")
    subset = report.dataset_macros({"n_items": 120, "kind": "parquet", "source": "/d/a", "synthetic": None})
    assert subset["DatasetDescription"] == "120 of ARTeFACT's 418 images"
    own = report.dataset_macros({"n_items": 4, "kind": "binary_folder", "source": "/d/film_scans", "synthetic": None})
    assert own["DatasetDescription"] == "the 4 images of \\texttt{film\\_scans}" and own["DatasetNote"] == ""
    # a cache made before ingest recorded the origin is not taken for ARTeFACT either
    old = report.dataset_macros({"n_items": 160, "kind": "parquet", "source": "/x/data"})
    assert "ARTeFACT" not in old["DatasetName"] and "not recorded" in old["DatasetNote"]
    assert report.dataset_macros(None)["DatasetNote"] == ""


@pytest.mark.parametrize(("mean", "low", "high", "start"), [
    (0.03, 0.01, 0.05, "improves held-out mIoU over the flat baseline by 3.0 points (95\\,\\% interval [1.0, 5.0])"),
    (-0.024, -0.039, -0.008, "lowers held-out mIoU against the flat baseline by 2.4 points"),
    (0.004, -0.01, 0.02, "does not change held-out mIoU measurably against the flat baseline (+0.4 points"),
])
def test_verdict_reads_the_paired_interval(mean: float, low: float, high: float, start: str) -> None:
    text = report.verdict(pd.Series({"mean": mean, "low": low, "high": high, "complete": True}), partition="ood_test")
    assert text.startswith(start), text
    assert ("does not help" in text) == (high < 0)
    assert "incomplete" in report.verdict(pd.Series({"mean": NAN, "low": NAN, "high": NAN, "complete": False}),
                                          partition="id_test")
    assert report.verdict(None, partition="id_test").startswith("cannot be compared")


# --------------------------------------------------------------------------- on a finished suite
@pytest.fixture(scope="module")
def assets(synthetic_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    base = tmp_path_factory.getbasetemp() / "report_suite"
    suite = finished_suite(synthetic_cache, base)
    paper_assets(suite, base / "paper")
    return suite, base / "paper"


def test_numbers_equal_the_headline_tables(assets: tuple) -> None:
    suite, paper_dir = assets
    macros = report.parse_numbers_tex((paper_dir / "generated" / suite.name / "numbers.tex").read_text())
    headline = pd.read_csv(suite.results_dir / "headline.csv", dtype={"fold": str}).fillna({"fold": ""})
    headline = headline[headline["head"] == "fine"]
    tag = {"id_test": "ID", "ood_test": "OOD", "gap": "Gap"}
    checked = 0
    for r in headline.itertuples():
        name = report.macro_name(r.variant) + tag[r.partition] + "mIoU" + (report.macro_name(r.fold) if r.fold else "")
        assert macros[name] == f"{100 * r.mean:.1f}".replace("-0.0", "0.0"), name
        if not r.fold:
            assert macros[name + "Low"] == f"{100 * r.low:.1f}".replace("-0.0", "0.0")
        checked += 1
    assert checked == 3 * (len(set(headline["variant"]))) * (1 + len(suite.folds)) and "all_clean" in set(headline["variant"])
    # the headline comparison of the text is the across-run one (mean paired delta, sign-flip p)
    hc = pd.read_csv(suite.results_dir / "headline_comparisons.csv")
    row = hc[(hc["variant_a"] == "flat") & (hc["variant_b"] == "curriculum") & (hc["partition"] == "ood_test")
             & (hc["head"] == "fine")].iloc[0]
    assert macros["CurriculumVsFlatOODDelta"] == f"{100 * row['mean']:+.1f}".replace("-", "$-$")
    assert macros["CurriculumVsFlatOODP"] == format_p(row["p_holm"])
    assert macros["CurriculumVsFlatOODVerdict"] == report.verdict(
        pd.Series({"mean": row["mean"], "low": row["low"], "high": row["high"], "complete": True}),
        partition="ood_test")
    # the suite trains on the synthetic cache: the paper says so, from the cache's dataset.json
    assert "not ARTeFACT results" in macros["DatasetNote"] and macros["NumImages"] == "48"


@needs_tex
def test_every_table_compiles_standalone(assets: tuple, tmp_path: Path) -> None:
    suite, paper_dir = assets
    for table in sorted((paper_dir / "generated" / suite.name / "tables").glob("*.tex")):
        doc = tmp_path / f"{table.stem}_doc.tex"
        doc.write_text("\\documentclass{article}\n\\usepackage{booktabs,graphicx,amsmath}\n\\usepackage[table]{xcolor}\n"
                       f"\\begin{{document}}\n\\input{{{table}}}\n\\end{{document}}\n")
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"{table.name} does not compile:\n{run.stdout[-1500:]}"


@needs_tex
def test_paper_builds_from_the_suite(assets: tuple) -> None:
    suite, paper_dir = assets
    pdf = report.build_paper(suite.name, paper_dir, install=False)
    assert pdf == paper_dir / "build" / f"{suite.name}.pdf" and pdf.read_bytes()[:5] == b"%PDF-"
    log = (paper_dir / "build" / suite.name / f"{suite.name}.log").read_text(errors="replace")
    assert "undefined" not in log.lower(), "a reference, citation or macro is undefined"
    assert (paper_dir / "build" / suite.name / f"{suite.name}.bbl").read_text().count("\\bibitem") == 10
    if shutil.which("pdftotext"):  # the page a reader sees says the data is synthetic (poppler-utils, .ci/run)
        text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                       check=True).stdout.split())
        assert "Synthetic data: these are not ARTeFACT results." in text
        assert "48 procedurally generated images" in text and "ARTeFACT's 418 images" not in text


def test_build_refuses_a_suite_without_assets_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "main.tex").write_text("\\documentclass{article}")
    with pytest.raises(SuiteError, match=r"'.*generated/ghost' does not exist .*05_paper_figures"):
        report.build_paper("ghost", tmp_path, install=False)
    (tmp_path / "generated" / "half" / "tables").mkdir(parents=True)
    (tmp_path / "generated" / "half" / "numbers.tex").write_text("")
    with pytest.raises(SuiteError, match=r"lacks \['tables/main_results.tex'"):
        report.build_paper("half", tmp_path, install=False)
    with pytest.raises(ConfigError, match="suite name"):
        report.build_paper("../x", tmp_path)
    with pytest.raises(ConfigError, match="no main.tex"):
        report.build_paper("demo", tmp_path / "nowhere")


def test_missing_tex_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SuiteError, match="apt-get install -y --no-install-recommends latexmk texlive-latex-base"):
        report.ensure_tex(install=False)
