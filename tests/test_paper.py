"""heritage_core.paper: aggregation and its intervals, the formatting rule, tables, number macros, the PDF build."""
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

from heritage_core import paper
from heritage_core.dg import RESULT_COLUMNS, read_results
from heritage_core.errors import ConfigError, SuiteError
from heritage_core.metrics import ABSENT_CLASS_RULE

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
    est = paper.estimate(tidy([dict(value=0.5, ci_low=0.4, ci_high=0.62)]))
    assert (est.mean, est.low, est.high, est.method, est.n_folds, est.n_seeds) == (0.5, 0.4, 0.62, "bootstrap", 1, 1)


def test_estimate_one_seed_combines_fold_intervals_as_normal_errors() -> None:
    # s_f = 0.2 / 3.92 for both folds; half-width = 1.96 * sqrt(2 s^2) / 2 = 0.05 * sqrt(2)
    rows = tidy([dict(fold="f1", value=0.4, ci_low=0.3, ci_high=0.5), dict(fold="f2", value=0.6, ci_low=0.5, ci_high=0.7)])
    est = paper.estimate(rows)
    assert est.method == "combined" and est.n_folds == 2 and est.mean == pytest.approx(0.5)
    assert est.low == pytest.approx(0.5 - 0.05 * math.sqrt(2)) and est.high == pytest.approx(0.5 + 0.05 * math.sqrt(2))


def test_estimate_several_seeds_is_a_t_interval_over_seed_means() -> None:
    rows = tidy([dict(fold="f1", seed=0, value=0.4), dict(fold="f2", seed=0, value=0.6),
                 dict(fold="f1", seed=1, value=0.5), dict(fold="f2", seed=1, value=0.7)])
    est = paper.estimate(rows)
    # seed means 0.5 and 0.6: mean 0.55, SE = 0.0707107 / sqrt(2) = 0.05, t(0.975, 1) = 12.7062
    assert est.method == "seeds" and est.n_seeds == 2 and est.mean == pytest.approx(0.55)
    assert est.high - est.mean == pytest.approx(12.7062047 * 0.05, rel=1e-6)


def test_estimate_leaves_out_absent_classes_and_reports_none() -> None:
    rows = tidy([dict(fold="f1", value=NAN), dict(fold="f2", value=0.3, ci_low=0.2, ci_high=0.4)])
    assert paper.estimate(rows).mean == pytest.approx(0.3) and paper.estimate(rows).method == "bootstrap"
    empty = paper.estimate(tidy([dict(value=NAN)]))
    assert math.isnan(empty.mean) and empty.method == "none"
    no_ci = paper.estimate(tidy([dict(fold="f1", value=0.2), dict(fold="f2", value=0.4)]))
    assert no_ci.mean == pytest.approx(0.3) and math.isnan(no_ci.low) and no_ci.method == "none"


# --------------------------------------------------------------------------- formatting
@pytest.mark.parametrize(("value", "kwargs", "text"), [
    (0.5734, {}, "57.3"), (0.05, {}, "5.0"), (-0.052, {}, "$-$5.2"), (-0.052, {"tex": False}, "-5.2"),
    (-0.0004, {}, "0.0"), (0.021, {"signed": True}, "+2.1"), (0.0, {"signed": True}, "0.0"), (NAN, {}, "--"),
])
def test_format_percent(value: float, kwargs: dict, text: str) -> None:
    assert paper.format_percent(value, **kwargs) == text


def test_format_interval_and_escape_and_macro_names() -> None:
    assert paper.format_interval(0.1, 0.2345) == "[10.0, 23.4]"
    assert paper.format_interval(-0.1, NAN) == "--"
    assert paper.tex_escape("a_b & 5% #1") == r"a\_b \& 5\% \#1"
    assert paper.macro_name("curriculum_only", "OOD", "mIoU") == "CurriculumOnlyOODMIoU"
    assert paper.macro_name("photographic_depiction") == "PhotographicDepiction"
    assert paper.macro_name("lime plaster2", "f10") == "LimePlasterTwoFOneZero"
    with pytest.raises(ConfigError, match="letters"):
        paper.macro_name("_-_")


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


def test_main_results_frame_and_table() -> None:
    frame = paper.main_results(small_table())
    assert frame["variant"].tolist() == ["flat"] * 3 + ["curriculum"] * 3
    ood = frame.set_index(["variant", "partition"])["mean"]
    assert ood["curriculum", "ood_test"] == pytest.approx(0.45) and ood["flat", "gap"] == pytest.approx(0.2)
    text = paper.main_results_table(frame)
    assert "\\toprule" in text and "\\bottomrule" in text and "\\label{tab:main_results}" in text
    assert "\\valci{\\textbf{45.0}}" in text  # best OOD: curriculum
    assert "\\valci{\\textbf{15.0}}" in text  # smallest absolute gap: curriculum
    assert paper.tex_escape(ABSENT_CLASS_RULE) in text and "combined as independent normal errors" in text


def test_main_results_compare_encoders_with_the_primary_one_unqualified() -> None:
    df = pd.concat([small_table(), small_table().assign(encoder="mit_b3", value=lambda d: d["value"] - 0.1)])
    frame = paper.main_results(df, encoders=["enc", "mit_b3"])
    assert frame["encoder"].tolist() == ["enc"] * 6 + ["mit_b3"] * 6
    text = paper.main_results_table(frame)
    assert "\\begin{table*}" in text and "\\texttt{mit\\_b3} & Flat &" in text and text.count("\\midrule") == 2
    assert text.count("\\textbf{45.0}") == 1 and text.count("\\textbf{35.0}") == 1  # best OOD per encoder
    empty = paper.ablation(pd.DataFrame(columns=["fold", "seed", "head", "metric", "partition", "variant_a",
                                                 "variant_b", "delta", "ci_low", "ci_high", "p_value", "p_holm",
                                                 "significant"]))
    macros = paper.number_macros(frame, paper.per_fold(small_table()), empty, suite="s", encoder="enc", n_runs=4)
    assert macros["CurriculumOODmIoU"] == "45.0" and macros["CurriculumOODmIoUMitBThree"] == "35.0"
    # two folds at 40 [35, 45]: half-width 1.96 * sqrt(2) * (10 / 3.92) / 2 = 3.54 points
    assert macros["FlatIDmIoULowMitBThree"] == "36.5"


def test_per_class_table_marks_absent_classes_and_support() -> None:
    frame = paper.per_class(small_table(), class_names=["Clean", "Dust"])
    dust = frame[(frame["class_name"] == "Dust") & (frame["variant"] == "flat")].iloc[0]
    assert dust["mean"] == pytest.approx(0.3) and dust["n_folds"] == 1  # the absent fold is left out
    assert dust["support_px"] == 4000.0  # 2000 px per fold, summed over folds of one variant and seed
    table = paper.per_class_table(frame)
    assert "Dust & 4.0\\,k & \\textbf{30.0} & \\textbf{30.0}" in table  # ties are both bold
    everything_absent = paper.per_class(small_table().assign(value=NAN))
    assert "--" in paper.per_class_table(everything_absent)


def test_ablation_cells_show_p_or_significant_counts() -> None:
    comparisons = pd.DataFrame([
        dict(fold="f1", seed=0, head="fine", metric="miou", partition="ood_test", variant_a="flat",
             variant_b="curriculum", delta=0.10, ci_low=0.05, ci_high=0.15, p_value=0.001, p_holm=0.002,
             significant=True),
        dict(fold="f1", seed=0, head="fine", metric="miou", partition="id_test", variant_a="flat",
             variant_b="curriculum", delta=-0.02, ci_low=-0.06, ci_high=0.02, p_value=0.3, p_holm=0.3,
             significant=False),
    ])
    frame = paper.ablation(comparisons)
    assert frame["family_size"].tolist() == [2, 2] and frame["n"].tolist() == [1, 1]
    text = paper.ablation_table(frame)
    assert "Curriculum vs.\\ Flat & \\textbf{$-$2.0} {\\scriptsize [$-$6.0, 2.0]} & 0.300 & " \
           "\\textbf{+10.0} {\\scriptsize [5.0, 15.0]} & 0.002 \\\\" in text
    two = pd.concat([comparisons, comparisons.assign(fold="f2", significant=False)])
    assert "1/2" in paper.ablation_table(paper.ablation(two))


# --------------------------------------------------------------------------- macros
def test_number_macros_round_trip_and_cover_every_variant() -> None:
    df = small_table()
    main, folds = paper.main_results(df), paper.per_fold(df)
    macros = paper.number_macros(main, folds, paper.ablation(pd.DataFrame(columns=[
        "fold", "seed", "head", "metric", "partition", "variant_a", "variant_b", "delta", "ci_low", "ci_high",
        "p_value", "p_holm", "significant"])), suite="my_suite", encoder="convnext_tiny", n_runs=4)
    parsed = paper.parse_numbers_tex(paper.numbers_tex(macros, header="test\nheader"))
    assert parsed["CurriculumOODmIoU"] == "45.0" and parsed["FlatGapmIoUFTwo"] == "20.0"
    assert parsed["HierarchicalOODmIoU"] == "--"  # absent variant: defined, so the text still compiles
    assert parsed["CurriculumVsFlatOODDelta"] == "--" and parsed["NumFolds"] == "2" and parsed["NumRuns"] == "4"
    assert parsed["SuiteName"] == "my\\_suite" and parsed["HeldOutDomains"] == "Fold one, Fold two"
    assert all(re.fullmatch(r"[A-Za-z]+", name) for name in parsed)
    with pytest.raises(ConfigError, match="letters only"):
        paper.numbers_tex({"Bad1": "x"})


def test_setup_macros_from_run_json() -> None:
    info = {"img_size": 512, "params": {"batch_size": 8, "loss_weights": {"binary": 0.2, "coarse": 0.3, "fine": 1.0}},
            "stages": [{"name": "binary", "epochs": 20, "lr": 1e-5}, {"name": "coarse", "epochs": 20, "lr": 5e-5},
                       {"name": "fine", "epochs": 60, "lr": 1e-4}]}
    m = paper.setup_macros(info)
    assert m["StageEpochs"] == "20, 20 and 60" and m["TotalEpochs"] == "100" and m["ImgSize"] == "512"
    assert m["StageLearningRates"].startswith("$1{\\times}10^{-5}$, $5{\\times}10^{-5}$ and")
    assert m["LossWeightCoarse"] == "0.3" and paper.setup_macros(None)["StageNames"] == "--"


# --------------------------------------------------------------------------- on a finished suite
@pytest.fixture(scope="module")
def assets(synthetic_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    base = tmp_path_factory.getbasetemp() / "report_suite"
    suite = finished_suite(synthetic_cache, base)
    paper_assets(suite, base / "paper")
    return suite, base / "paper"


def test_numbers_equal_the_tidy_results_table(assets: tuple) -> None:
    suite, paper_dir = assets
    macros = paper.parse_numbers_tex((paper_dir / "generated" / suite.name / "numbers.tex").read_text())
    df = read_results(suite.results_dir)
    df = df[(df["head"] == "fine") & (df["metric"] == "miou") & (df["class_name"] == "") & (df["domain"] == "")]
    tag = {"id_test": "ID", "ood_test": "OOD", "gap": "Gap"}
    checked = 0
    for (variant, part), rows in df[df["partition"].isin(list(tag))].groupby(["variant", "partition"]):
        name = paper.macro_name(variant) + tag[part] + "mIoU"
        assert macros[name] == f"{100 * rows['value'].mean():.1f}".replace("-0.0", "0.0")
        spread = (rows["ci_high"] - rows["ci_low"]).to_numpy() / (2 * 1.959963984540054)  # one seed: combined
        half = 1.959963984540054 * np.sqrt((spread ** 2).sum()) / len(rows)
        assert macros[name + "Low"] == f"{100 * (rows['value'].mean() - half):.1f}".replace("-0.0", "0.0")
        for _, r in rows.iterrows():
            assert macros[name + paper.macro_name(r["fold"])] == f"{100 * r['value']:.1f}".replace("-0.0", "0.0")
            checked += 1
    assert checked == 4 * 3 * len(suite.folds)
    comparisons = pd.read_csv(suite.results_dir / "comparisons.csv")
    cf = comparisons[(comparisons["variant_a"] == "flat") & (comparisons["variant_b"] == "curriculum")
                     & (comparisons["partition"] == "ood_test")]
    assert macros["CurriculumVsFlatOODDelta"].lstrip("+") == f"{100 * cf['delta'].mean():.1f}"
    assert macros["CurriculumVsFlatOODSignificant"] == f"{int(cf['significant'].sum())}/{len(cf)}"


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
    pdf = paper.build_paper(suite.name, paper_dir, install=False)
    assert pdf == paper_dir / "build" / f"{suite.name}.pdf" and pdf.read_bytes()[:5] == b"%PDF-"
    log = (paper_dir / "build" / suite.name / f"{suite.name}.log").read_text(errors="replace")
    assert "undefined" not in log.lower(), "a reference, citation or macro is undefined"
    assert (paper_dir / "build" / suite.name / f"{suite.name}.bbl").read_text().count("\\bibitem") == 10


def test_build_refuses_a_suite_without_assets_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "main.tex").write_text("\\documentclass{article}")
    with pytest.raises(SuiteError, match=r"'.*generated/ghost' does not exist .*05_paper_figures"):
        paper.build_paper("ghost", tmp_path, install=False)
    (tmp_path / "generated" / "half" / "tables").mkdir(parents=True)
    (tmp_path / "generated" / "half" / "numbers.tex").write_text("")
    with pytest.raises(SuiteError, match=r"lacks \['tables/main_results.tex'"):
        paper.build_paper("half", tmp_path, install=False)
    with pytest.raises(ConfigError, match="suite name"):
        paper.build_paper("../x", tmp_path)
    with pytest.raises(ConfigError, match="no main.tex"):
        paper.build_paper("demo", tmp_path / "nowhere")


def test_missing_tex_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SuiteError, match="apt-get install -y --no-install-recommends latexmk texlive-latex-base"):
        paper.ensure_tex(install=False)
