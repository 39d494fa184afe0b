"""Tests of heritage_core.report.widgets: headless detection, colours, the static and interactive inspector."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from eval_builders import evaluated_suite
from heritage_core.report import panels, widgets
from heritage_core.runs import FIGURE_DPI
from heritage_core.errors import ConfigError
from heritage_core.evaluation.store import load_evaluation
from heritage_core.evaluation.metrics import ABSENT_CLASS_RULE
from heritage_core.evaluation.store import load_counts
from heritage_core.taxonomy import default_taxonomy

TAX = default_taxonomy()


@pytest.fixture(scope="module")
def suite(synthetic_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    return evaluated_suite(synthetic_cache, tmp_path_factory.getbasetemp())[0]


def _fake_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = type("ZMQInteractiveShell", (), {})()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_headless_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(widgets.WIDGETS_ENV, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert widgets.is_headless()  # plain python / pytest
    _fake_kernel(monkeypatch)
    assert widgets.is_headless()  # a kernel nobody opened in a front end (papermill, nbclient)
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/04_dg_gap.ipynb")
    assert not widgets.is_headless()  # a kernel jupyter_server started for a notebook
    monkeypatch.setenv(widgets.WIDGETS_ENV, "static")
    assert widgets.is_headless()
    monkeypatch.setenv(widgets.WIDGETS_ENV, "interactive")
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert not widgets.is_headless()
    monkeypatch.setenv(widgets.WIDGETS_ENV, "maybe")
    with pytest.raises(ConfigError, match="HERITAGE_WIDGETS"):
        widgets.is_headless()
    assert widgets.resolve_static(False) is False
    with pytest.raises(ConfigError, match="static"):
        widgets.resolve_static("yes")


def test_colours_follow_the_dataset() -> None:
    labels = np.array([[0, 3], [255, 15]], dtype=np.uint8)
    rgb = panels.colourise(labels, "fine")
    assert rgb[0, 1].tolist() == TAX.fine_rgb()[3].tolist() and rgb[1, 1].tolist() == TAX.fine_rgb()[15].tolist()
    assert rgb[1, 0].tolist() == [0x5A, 0x00, 0x07]  # ignore colour
    coarse = panels.head_colours("coarse_from_fine")
    assert coarse[2].tolist() == TAX.fine_rgb()[3].tolist()  # Deposits takes Dust's colour
    assert panels.head_colours("binary").tolist() == [[0, 0, 0], [255, 255, 255]]
    image = np.full((2, 2, 3), 100, np.uint8)
    out = panels.overlay(image, labels, "fine", alpha=0.5)
    assert out[0, 0].tolist() == [100, 100, 100]  # clean shows the image
    assert out[0, 1].tolist() == np.round(0.5 * 100 + 0.5 * TAX.fine_rgb()[3]).astype(int).tolist()


def test_image_class_scores_rank_labelled_images(suite) -> None:
    evaluation = load_evaluation(suite.runs["flat"])
    ranking = panels.image_class_scores(evaluation, "ood_test", "binary", 1)
    counts = load_counts(suite.runs["flat"] / "eval" / "ood_test.npz")["binary"]
    labelled = [i for k, i in enumerate(counts.ids) if counts.label[k, 1] > 0]
    assert sorted(ranking["id"]) == sorted(labelled)
    assert ranking["iou"].is_monotonic_decreasing
    k = counts.ids.index(ranking["id"][0])
    assert ranking["iou"][0] == counts.intersection[k, 1] / counts.union[k, 1]


def test_static_inspector_renders_figures_and_table(suite, tmp_path: Path) -> None:
    figures, table = widgets.iou_inspector(suite.suite_dir, static=True, save_dir=tmp_path, k=1)
    assert len(figures) == 2 and len(table) == 16
    assert ABSENT_CLASS_RULE in table.attrs["caption"]
    # the floor beside every score: the all-Clean predictor's per-class IoU and its mIoU in the caption
    assert "for the all-Clean floor on the same images" in table.attrs["caption"]
    assert 0 < table.loc[0, "floor_iou"] <= 1 and (table["floor_iou"].iloc[1:].dropna() == 0).all()
    labels = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert labels == ["all-Clean floor"]
    shown = table.attrs["examples"]
    assert shown["rank"].tolist()[:1] == ["best"] and len(shown) <= 2
    assert (tmp_path / "inspector_bars.png").stat().st_size > 5_000
    assert (tmp_path / "inspector_examples.png").stat().st_size > 5_000
    with pytest.raises(ConfigError, match="not a class"):
        widgets.iou_inspector(suite.runs["flat"], static=True, class_name="Mould")


def test_interactive_inspector_reacts_to_the_dropdowns(suite, monkeypatch: pytest.MonkeyPatch) -> None:
    ipywidgets = pytest.importorskip("ipywidgets")
    drawn, captions = [], []
    monkeypatch.setattr(widgets, "render_static", lambda evaluations, selection, **kw: (
        drawn.append(selection), captions.append(kw.get("live"))))
    inspector = widgets.iou_inspector(suite.suite_dir, static=False)
    assert isinstance(inspector, widgets.IoUInspector) and isinstance(inspector.widget, ipywidgets.VBox)
    # The first run (sorted paths) is the random fold "all": no ood_test, so id_test is shown.
    assert inspector.fold.value == "all" and inspector.partition.value == "id_test" and inspector.head.value == "fine"
    inspector.head.value = "binary"
    assert inspector.selection.head == "binary" and list(inspector.class_name.options) == ["clean", "damage"]
    assert inspector.class_name.value == "damage"
    inspector.fold.value = "photographic_depiction"
    ev = inspector.evaluations[inspector.selection.run]
    assert ev.eval_info["fold"] == "photographic_depiction" and inspector.partition.value == "id_test"
    inspector.partition.value = "ood_test"
    assert inspector.selection == widgets.Selection(inspector.run.value, "ood_test", "binary", "damage", 2)
    assert len(drawn) == 4 and drawn[-1] == inspector.selection  # one redraw per change, none while filling
    assert captions == [True] * len(drawn)  # its caption says it is live, not the static view


def test_bar_chart_title_fits_in_the_figure(suite) -> None:
    """The longest run names of the paper grid, wrapped at spaces: no line is cut off at the figure's edge."""
    table = panels.per_class_table(load_evaluation(suite.runs["hierarchical"]), "ood_test", "coarse")
    title = "photographic_depiction / hierarchical_staged / maxvit_tiny_tf_384 / seed 2\nood_test / coarse_consistent"
    figure = panels.plot_class_iou(table, title=title)
    renderer = figure.canvas.get_renderer()
    box = figure.axes[0].title.get_window_extent(renderer)
    assert 0 <= box.x0 and box.x1 <= figure.bbox.width and box.y1 <= figure.bbox.height
    assert figure.axes[0].get_title().count("\n") == 2  # one more break than given
    short = panels.plot_class_iou(table, title="all / flat / resnet10t / seed 0\nid_test / fine")
    assert short.axes[0].get_title() == "all / flat / resnet10t / seed 0\nid_test / fine"


def test_show_evaluation_saves_confusion_figures_and_tables(suite, tmp_path: Path) -> None:
    saved = widgets.show_evaluation(suite.runs["random"], heads=("fine", "binary"), save_dir=tmp_path)
    assert sorted(saved) == ["id_test/binary", "id_test/fine", "val/binary", "val/fine"]
    assert all(p.stat().st_size > 5_000 for p in saved.values())
    assert (tmp_path / "classes_val_fine.csv").is_file()


def test_show_evaluation_displays_the_saved_figures_at_screen_size(suite, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.display import Image

    shown: list = []
    monkeypatch.setattr(widgets, "_displayer", lambda display: shown.append)
    saved = widgets.show_evaluation(suite.runs["random"], heads=("fine",), save_dir=tmp_path)
    images = [o for o in shown if isinstance(o, Image)]
    assert [i.data for i in images] == [p.read_bytes() for p in saved.values()]  # not rendered a second time
    for image, path in zip(images, saved.values()):
        data = path.read_bytes()
        assert image.width == round(int.from_bytes(data[16:20], "big") * 100 / FIGURE_DPI)
        assert 300 < image.width < int.from_bytes(data[16:20], "big")
