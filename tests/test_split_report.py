"""Tests of heritage_core.splits.report on fake indexes with ARTeFACT's composition and fake class histograms."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from heritage_core.splits import report as split_report
from heritage_core.errors import ConfigError, ManifestError
from heritage_core.splits.report import ClassHistograms, build_report, latex_table, summary_table, write_report
from heritage_core.splits.protocols import SplitWarning, load_manifest, make_splits
from split_builders import composition_index, facts_composition, fake_histograms, fingerprint, make_index, make_row

BURN_MARKS = 14


@pytest.fixture(scope="module")
def facts_index() -> pd.DataFrame:
    """ARTeFACT's 417 fine-level items plus 6 binary-level film scans (Film emulsion, Photographic depiction)."""
    index = composition_index(facts_composition())
    film = [make_row(f"film-{k}", f"film-{k}", "Film emulsion", "Photographic depiction", "binary") for k in range(6)]
    return pd.concat([index, make_index(film)])


@pytest.fixture(scope="module")
def histograms(facts_index: pd.DataFrame) -> ClassHistograms:
    # Burn marks only in Line art items: absent from train in the line_art fold.
    line_art = facts_index.index[facts_index["content"] == "Line art"]
    return fake_histograms(facts_index, {i: {0: 900, BURN_MARKS: 80, 255: 20} for i in line_art})


@pytest.fixture(scope="module")
def report(facts_index, histograms) -> split_report.SplitReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        return build_report(make_splits(facts_index, "locontent", seed=0), facts_index, histograms)


def test_head_counts_by_hand() -> None:
    index = make_index([make_row("f", "f", "Paper", "Line art"),
                        make_row("b", "b", "Film emulsion", "Line art", "binary")])
    counts = np.zeros((2, 256), dtype=np.int64)
    counts[0, [0, 3, 10, 255]] = (10, 5, 2, 4)  # Clean, Dust (Deposits), Staining (Discolouration), ignore
    counts[1, [0, 1, 255]] = (7, 3, 1)
    hist = ClassHistograms(("f", "b"), np.array(["fine", "binary"]), counts, fingerprint(index))
    fine, ignore, counted = hist.head_counts("fine")
    assert fine.shape == (2, 16) and fine[0, [0, 3, 10]].tolist() == [10, 5, 2] and fine[0].sum() == 17
    assert ignore.tolist() == [4, 0] and counted.tolist() == [True, False]
    coarse, ignore, counted = hist.head_counts("coarse")
    assert coarse[0].tolist() == [10, 0, 5, 2, 0] and counted.tolist() == [True, False]
    binary, ignore, counted = hist.head_counts("binary")
    assert binary.tolist() == [[10, 7], [7, 3]] and ignore.tolist() == [4, 1] and counted.tolist() == [True, True]


class FakeCache:
    """The part of Cache that the histograms read: ids, index, fingerprint, load_mask."""

    def __init__(self, masks: dict[str, np.ndarray], index: pd.DataFrame) -> None:
        self.masks, self.index, self.fingerprint, self.loads = masks, index, fingerprint(index), 0

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def ids(self) -> list[str]:
        return list(self.masks)

    def load_mask(self, item_id: str, mmap: bool = False) -> np.ndarray:
        self.loads += 1
        return self.masks[item_id]


def test_histograms_are_computed_once_and_cached(tmp_path) -> None:
    index = make_index([make_row("a", "a", "Paper", "Line art"), make_row("b", "b", "Glass", "Line art", "binary")])
    cache = FakeCache({"a": np.array([[0, 0, 3], [255, 3, 3]], np.uint8), "b": np.array([[1, 0]], np.uint8)}, index)
    path = tmp_path / "report" / "class_histograms.npz"
    hist = split_report.load_or_compute_histograms(cache, path)
    assert hist.counts[0, [0, 3, 255]].tolist() == [2, 3, 1] and hist.counts[0].sum() == 6
    assert hist.counts[1, [0, 1]].tolist() == [1, 1] and hist.label_level.tolist() == ["fine", "binary"]
    again = split_report.load_or_compute_histograms(cache, path)
    assert cache.loads == 2 and np.array_equal(again.counts, hist.counts) and again.ids == ("a", "b")
    cache.fingerprint = "another"
    split_report.load_or_compute_histograms(cache, path)
    assert cache.loads == 4


def test_composition_counts_items_and_groups(report) -> None:
    comp = report.composition.set_index(["fold", "partition", "by", "domain"])
    assert comp.loc[("line_art", "ood_test", "content", "Line art"), "items"] == 23
    assert comp.loc[("line_art", "ood_test", "content", "Artistic depiction"), "items"] == 0
    assert comp.loc[("geometric_patterns", "ood_test", "material", "Textile"), "items"] == 12
    assert comp.loc[("photographic_depiction", "ood_test", "all", "all"), "items"] == 136  # 130 + 6 film scans
    totals = report.composition[report.composition["by"] == "all"].groupby("fold")["items"].sum()
    assert (totals == 423).all()


def test_class_pixels_and_ignore_by_hand(report) -> None:
    cls = report.classes.set_index(["fold", "partition", "head", "kind", "class_name"]).sort_index()
    # ood_test of line_art: 23 items of 900 Clean, 80 Burn marks, 20 ignore pixels
    row = cls.loc[("line_art", "ood_test", "fine", "class", "Burn marks")]
    assert (row["pixels"], row["images"], row["items"]) == (23 * 80, 23, 23)
    assert row["pixel_share"] == pytest.approx(80 / 980)
    ignore = cls.loc[("line_art", "ood_test", "fine", "ignore", "ignore")]
    assert (ignore["class_id"], ignore["pixels"], ignore["pixel_share"]) == (255, 460, pytest.approx(0.02))
    assert cls.loc[("line_art", "ood_test", "coarse", "class", "Discolouration"), "pixels"] == 23 * 80
    # binary-level film scans (900/80/20 px each) count on binary only
    photo = cls.loc[("photographic_depiction", "ood_test")]
    assert photo.loc[("fine", "ignore", "ignore"), "items"] == 130
    assert photo.loc[("binary", "ignore", "ignore"), "items"] == 136
    assert photo.loc[("binary", "class", "damage"), "pixels"] == 136 * 80
    assert set(report.classes.loc[report.classes["kind"] == "class", "class_id"]) == set(range(16))


def test_small_partition_and_absent_class_warnings(facts_index, histograms) -> None:
    manifests = make_splits(facts_index, "locontent", seed=0)
    with pytest.warns(SplitWarning) as record:
        rep = build_report(manifests, facts_index, histograms)
    messages = [str(w.message) for w in record]
    assert messages == rep.warnings["message"].tolist()
    small = rep.warnings[rep.warnings["kind"] == "small_partition"]
    assert ("line_art", "ood_test") in set(zip(small["fold"], small["partition"]))
    assert not ((small["fold"] == "geometric_patterns") & (small["partition"] == "ood_test")).any()  # 32 >= 30
    assert any("partition 'ood_test' has 23 items, fewer than min_items=30" in m for m in messages)
    absent = rep.warnings[rep.warnings["kind"] == "class_absent_from_train"]
    fine = absent[(absent["fold"] == "line_art") & (absent["head"] == "fine")]
    assert fine["message"].str.contains(r"Burn marks \(id_test 0, ood_test 23 images\)").all() and len(fine) == 1
    assert not ((absent["fold"] != "line_art") & (absent["head"] == "fine")).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SplitWarning)
        quiet = build_report(manifests, facts_index, fake_histograms(facts_index), min_items=0)
    assert quiet.warnings.empty


def test_summary_and_latex_table(report, facts_index, histograms) -> None:
    table = summary_table(report).set_index("fold")
    assert table.loc["line_art", ["ood_test", "ood_test_groups", "absent_fine"]].tolist() == [23, 23, 1]
    tex = latex_table(report)
    assert tex.startswith("\\begin{table}") and tex.endswith("\\end{table}\n")
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\caption{Split composition, protocol \\texttt{locontent}"):
        assert rule in tex
    row = table.loc["line_art"]
    assert f"Line art & {row['train']} & {row['val']} & {row['id_test']} & 23$^\\dagger$ & 1 \\\\" in tex
    assert "Geometric patterns &" in tex and "& 32 & 0 \\\\" in tex
    paired = make_index([make_row(f"i{k}", f"g{k // 2}", "R&D_1", c) for k in range(40) for c in ["Line art"]]
                        + [make_row(f"j{k}", f"h{k}", "Paper", "Artistic depiction") for k in range(40)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        rep = build_report(make_splits(paired, "lomaterial", 0), paired, fake_histograms(paired))
    tex = latex_table(rep)
    assert "R\\&D\\_1 &" in tex and "& 40 (20)" in tex


def test_random_protocol_table_has_no_ood(facts_index, histograms) -> None:
    rep = build_report(make_splits(facts_index, "random", 0), facts_index, histograms)
    assert "none (random) &" in latex_table(rep) and " & -- & " in latex_table(rep)
    assert not (rep.warnings["partition"] == "ood_test").any()


def test_write_report(tmp_path, report) -> None:
    paths = write_report(report, tmp_path / "report")
    assert sorted(paths) == ["classes", "composition", "figure_pdf", "figure_png", "summary", "table", "warnings"]
    assert paths["table"].read_text() == latex_table(report)
    assert paths["figure_pdf"].read_bytes()[:4] == b"%PDF"
    assert paths["figure_png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = pd.read_csv(paths["classes"])
    assert len(back) == len(report.classes) and back["pixels"].sum() == report.classes["pixels"].sum()
    assert paths["composition"].name == "locontent_composition.csv"
    assert not [p for p in (tmp_path / "report").iterdir() if p.name.startswith(".")]


def test_figure_shows_each_fold_and_domain(report) -> None:
    import matplotlib.pyplot as plt

    fig = split_report.composition_figure(report)
    try:
        content, material = fig.axes[:2]
        labels = [t.get_text() for t in content.get_legend().get_texts()]
        assert labels == ["Geometric patterns", "Line art", "Photographic depiction", "Artistic depiction"]
        totals = [t.get_text() for t in content.texts]
        assert "23" in totals and "Line art" in totals and len(material.get_legend().get_texts()) == 10
    finally:
        plt.close(fig)


def test_report_rejects_mismatched_inputs(facts_index, histograms) -> None:
    manifests = make_splits(facts_index, "random", 0)
    other = ClassHistograms(histograms.ids, histograms.label_level, histograms.counts, "f" * 64)
    with pytest.raises(ManifestError, match="fingerprint"):
        build_report(manifests, facts_index, other)
    short = ClassHistograms(histograms.ids[1:], histograms.label_level[1:], histograms.counts[1:],
                            histograms.fingerprint)
    with pytest.raises(ManifestError, match="lack 1 dataset items"):
        build_report(manifests, facts_index, short)
    with pytest.raises(ConfigError, match="min_items is -1"):
        build_report(manifests, facts_index, histograms, min_items=-1)
    with pytest.raises(ConfigError, match="seed 9 is not in the report"):
        summary_table(build_report(manifests, facts_index, histograms), seed=9)


def test_write_splits_and_report_on_a_cache(synthetic_cache, tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        paths = split_report.write_splits_and_report(synthetic_cache, tmp_path, "random", [4], min_items=3)
    assert [p.name for p in paths["manifests"]] == ["random_seed4_all.json"]
    manifest = load_manifest(paths["manifests"][0], synthetic_cache)
    assert manifest.partitions["ood_test"] == [] and paths["table"] == tmp_path / "report" / "random_table.tex"
    assert (tmp_path / "report" / "class_histograms.npz").is_file()
