"""Tests of heritage_core.evaluation.dg: the tidy results table, the DG gap, paired comparisons and fold/seed summaries."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval_builders import ENCODER, N_RESAMPLES
from heritage_core.evaluation import analysis, dg
from heritage_core.errors import ConfigError, RunError
from heritage_core.evaluation.store import load_counts
from heritage_core.evaluation.stats import gap_ci, holm


@pytest.fixture(scope="module")
def suite(evaluated_tiny_suite):
    return evaluated_tiny_suite[0]


@pytest.fixture(scope="module")
def results(suite) -> pd.DataFrame:
    return dg.collect_results(suite.suite_dir, n_resamples=N_RESAMPLES, seed=0)


def test_collect_results_schema_and_identity(suite, results: pd.DataFrame) -> None:
    assert tuple(results.columns) == dg.RESULT_COLUMNS
    assert set(results["suite"]) == {"tiny"}
    assert set(results["variant"]) == {"flat", "hierarchical"} and set(results["encoder"]) == {ENCODER}
    assert set(results["fold"]) == {"photographic_depiction", "all"}
    assert results["seed"].dtype == np.int64 and results["value"].dtype == np.float64
    assert set(results["partition"]) == {"val", "id_test", "ood_test", "gap"}
    random = results[results["fold"] == "all"]
    assert set(random["partition"]) == {"val", "id_test"} and set(random["held_out"]) == {""}
    flat = results[(results["variant"] == "flat") & (results["fold"] == "photographic_depiction")]
    assert set(flat["held_out"]) == {"Photographic depiction"}
    assert "hierarchy" not in set(flat["head"]) and "fine_consistent" not in set(flat["head"])
    one = flat[(flat["partition"] == "id_test") & (flat["head"] == "fine")]
    plain = one[one["domain"] == ""]
    assert sorted(plain.loc[plain["class_name"] == "", "metric"]) == [
        "aacc", "floor_miou", "floor_miou_common", "macc", "mdice", "miou", "miou_common"]
    assert len(plain[plain["metric"] == "iou"]) == 16 and len(plain[plain["metric"] == "floor_iou"]) == 16
    # the floor beside every score: the all-Clean predictor scores Clean's label share and 0 elsewhere
    floor = plain[plain["metric"] == "floor_iou"].set_index("class_name")["value"]
    assert 0 < floor["Clean"] <= 1 and (floor.drop("Clean").dropna() == 0).all()
    domains = flat[flat["domain"] != ""]
    assert set(domains["metric"]) == {"domain_miou", "domain_macc", "domain_mdice", "domain_aacc"}
    hier = results[(results["variant"] == "hierarchical") & (results["fold"] == "photographic_depiction")]
    assert {"fine_consistent", "hierarchy"} <= set(hier["head"])


def test_results_rows_repeat_metrics_json(suite, results: pd.DataFrame) -> None:
    from heritage_core.runs import read_json

    metrics = read_json(suite.runs["flat"] / "eval" / "metrics.json")
    h = metrics["partitions"]["ood_test"]["heads"]["binary"]
    row = results[(results["variant"] == "flat") & (results["partition"] == "ood_test") & (results["head"] == "binary")
                  & (results["metric"] == "miou") & (results["domain"] == "")].iloc[0]
    assert (row["value"], row["ci_low"], row["ci_high"]) == (h["miou"], *h["miou_ci"])
    assert row["n_images"] == h["n_images"] == 4


def test_gap_is_id_minus_ood_exactly_over_the_common_class_set(results: pd.DataFrame) -> None:
    keys = ["run_id", "head", "class_name"]
    plain = results[results["domain"] == ""]
    for gap_metric, side in (("miou", "miou_common"), ("floor_miou", "floor_miou_common")):
        gap = plain[(plain["partition"] == "gap") & (plain["metric"] == gap_metric)].set_index(keys)
        id_ = plain[(plain["partition"] == "id_test") & (plain["metric"] == side)].set_index(keys).loc[gap.index]
        ood = plain[(plain["partition"] == "ood_test") & (plain["metric"] == side)].set_index(keys).loc[gap.index]
        assert len(gap) > 0
        expected = id_["value"] - ood["value"]
        both = gap["value"].notna()
        assert (gap["value"][both] == expected[both]).all()
        assert (gap["value"].isna() == expected.isna()).all()
        assert (gap["n_images"] == id_["n_images"] + ood["n_images"]).all()
    # per-class gaps exist only inside the common set, whose size is recorded
    n_common = plain[(plain["partition"] == "gap") & (plain["metric"] == "n_classes_common")]
    per_class = plain[(plain["partition"] == "gap") & (plain["metric"] == "iou")]
    for row in n_common.itertuples():
        rows = per_class[(per_class["run_id"] == row.run_id) & (per_class["head"] == row.head)]
        assert len(rows) > 0 and rows["value"].notna().sum() <= row.value


def test_gap_interval_resamples_each_test_set(suite, results: pd.DataFrame) -> None:
    run_dir = suite.runs["hierarchical"]
    c_id = load_counts(run_dir / "eval" / "id_test.npz")["coarse"]
    c_ood = load_counts(run_dir / "eval" / "ood_test.npz")["coarse"]
    expected = gap_ci(c_id, c_ood, classes="common", n_resamples=N_RESAMPLES, seed=0)
    row = results[(results["variant"] == "hierarchical") & (results["partition"] == "gap")
                  & (results["head"] == "coarse") & (results["metric"] == "miou")].iloc[0]
    assert (row["ci_low"], row["ci_high"]) == (expected.low, expected.high)
    assert row["value"] == pytest.approx(expected.estimate, abs=1e-12)


def test_write_and_read_results_round_trip(results: pd.DataFrame, tmp_path: Path) -> None:
    paths = dg.write_results(results, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.parquet"]
    pd.testing.assert_frame_equal(dg.read_results(paths["parquet"]), results)
    back = dg.read_results(paths["csv"])
    assert list(back.columns) == list(results.columns) and len(back) == len(results)
    np.testing.assert_array_equal(back["value"].to_numpy(), results["value"].to_numpy())
    with pytest.raises(ConfigError, match="lacks columns"):
        dg.write_results(results.drop(columns=["value"]), tmp_path)


def test_gap_table_and_fold_summary(results: pd.DataFrame) -> None:
    table = dg.gap_table(results, head="fine")
    assert table["variant"].tolist() == ["flat", "hierarchical"]
    assert table["gap"].to_numpy() == pytest.approx((table["id_test"] - table["ood_test"]).to_numpy())
    summary = dg.summarise_over_folds(results, heads=["fine"])
    flat_gap = summary[(summary["variant"] == "flat") & (summary["partition"] == "gap")].iloc[0]
    assert flat_gap["mean"] == table.loc[0, "gap"] and math.isnan(flat_gap["se"]) and flat_gap["n_seeds"] == 1


def _record(variant: str, fold: str, seed: int, value: float) -> dict:
    return dict(suite="s", run_id=f"{variant}{fold}{seed}", variant=variant, arch="", encoder="e", fold=fold,
                held_out=fold, seed=seed, partition="gap", head="fine", metric="miou", class_name="", value=value,
                ci_low=np.nan, ci_high=np.nan, n_images=10, domain="")


def test_summarise_over_folds_by_hand() -> None:
    # seed 0: folds 0.10, 0.30 -> 0.20; seed 1: folds 0.20, 0.40 -> 0.30;
    # mean 0.25, SE = std([0.2, 0.3], ddof=1) / sqrt(2) = 0.05
    rows = [_record("flat", "a", 0, 0.10), _record("flat", "b", 0, 0.30),
            _record("flat", "a", 1, 0.20), _record("flat", "b", 1, 0.40),
            _record("curriculum", "a", 0, 0.05)]
    summary = dg.summarise_over_folds(pd.DataFrame(rows), partitions=["gap"])
    assert summary["variant"].tolist() == ["flat", "curriculum"]
    flat = summary.iloc[0]
    assert flat["mean"] == pytest.approx(0.25) and flat["se"] == pytest.approx(0.05)
    assert (flat["n_seeds"], flat["n_folds"]) == (2, 2)


def test_compare_variants_pairs_runs_on_the_same_images_with_holm(suite, results: pd.DataFrame, tmp_path: Path) -> None:
    comp = dg.compare_variants(suite.suite_dir, heads=("fine", "binary"), n_resamples=N_RESAMPLES,
                               n_permutations=N_RESAMPLES, seed=0)
    assert tuple(comp.columns) == dg.COMPARISON_COLUMNS
    assert set(zip(comp["variant_a"], comp["variant_b"])) == {("flat", "hierarchical")}
    assert sorted(zip(comp["partition"], comp["head"])) == sorted(
        (p, h) for p in ("id_test", "ood_test") for h in ("fine", "binary"))
    for _, row in comp.iterrows():
        miou = results[(results["partition"] == row["partition"]) & (results["head"] == row["head"])
                       & (results["metric"] == "miou") & (results["domain"] == "") & (results["fold"] == row["fold"])]
        a = miou[miou["variant"] == "flat"]["value"].item()
        b = miou[miou["variant"] == "hierarchical"]["value"].item()
        assert (row["value_a"], row["value_b"]) == (pytest.approx(a, abs=1e-12), pytest.approx(b, abs=1e-12))
        assert row["delta"] == row["value_b"] - row["value_a"]
        assert row["ci_low"] <= row["ci_high"] and 0 < row["p_value"] <= 1
    np.testing.assert_array_equal(comp["p_holm"].to_numpy(), holm(comp["p_value"].to_numpy()))
    assert (comp["p_holm"] >= comp["p_value"]).all()
    assert (comp["significant"] == (comp["p_holm"] < 0.05)).all()
    path = dg.write_comparisons(comp, tmp_path)
    assert path.name == "comparisons.csv" and len(pd.read_csv(path)) == len(comp)
    summary = dg.summarise_comparisons(comp)
    assert len(summary) == len(comp) and (summary["delta_mean"] == comp["delta"]).all()


def test_find_run_dirs_and_parameter_errors(suite, tmp_path: Path) -> None:
    assert dg.find_run_dirs(suite.suite_dir) == sorted(suite.runs.values())
    assert dg.find_run_dirs(suite.runs["flat"]) == [suite.runs["flat"]]
    with pytest.raises(RunError, match="no run.json"):
        dg.find_run_dirs([tmp_path])
    with pytest.raises(RunError, match="no run directories"):
        dg.find_run_dirs(tmp_path)
    with pytest.raises(ConfigError, match="exactly one of suite_dir"):
        analysis.check_dg_params(suite_dir=suite.suite_dir, run_dirs=[suite.runs["flat"]], output_dir=tmp_path)
    with pytest.raises(ConfigError, match="heads"):
        analysis.check_dg_params(suite_dir=suite.suite_dir, output_dir=tmp_path, heads=["medium"])
    params = analysis.check_dg_params(run_dirs=[str(suite.runs["flat"])], output_dir=tmp_path, smoke=True)
    assert params.n_resamples == analysis.SMOKE_RESAMPLES and params.runs == [suite.runs["flat"]]


def test_unevaluated_runs_warn_or_raise(suite, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "runs" / "x"
    shutil.copytree(suite.runs["flat"], run, ignore=shutil.ignore_patterns("eval", ".lock"))
    with pytest.warns(UserWarning, match="without evaluation"):
        assert dg.collect_results([run, suite.runs["flat"]], n_resamples=20)["run_id"].nunique() == 1
    with pytest.raises(RunError, match="no complete evaluation"):
        dg.collect_results([run], missing="error")


def test_run_dg_analysis_writes_every_table(suite, tmp_path: Path) -> None:
    params = analysis.check_dg_params(suite_dir=suite.suite_dir, output_dir=tmp_path, smoke=True)
    paths = analysis.run_dg_analysis(params)
    assert sorted(p.name for p in paths.values()) == ["budgets.csv", "comparisons.csv", "gaps.csv", "headline.csv",
                                                      "headline_comparisons.csv", "results.csv", "results.parquet",
                                                      "summary.csv"]
    assert pd.read_csv(paths["gaps"])["variant"].tolist() == ["flat", "hierarchical"]
