"""The per-class IoU inspector, and the static figures and tables that notebooks 03 and 04 show.

:func:`iou_inspector` lets a reader pick a fold, a run, a partition, a scored head and a class, and shows

* the per-class IoU of that run, partition and head as bars with their 95 % bootstrap intervals (read from
  ``eval/metrics.json``; a class absent from labels and predictions has no bar, see
  :data:`~heritage_core.metrics.ABSENT_CLASS_RULE`), and
* the best and worst images for the chosen class (the images labelled with it, ranked by their own IoU of
  the class from ``eval/<partition>.npz``): image, ground truth and prediction overlaid in the dataset
  colours (``default_taxonomy().fine_rgb()``; a coarse group takes the colour of its first fine class,
  binary damage is white). Predictions come from the downsampled masks stored by the evaluation
  (``eval/<partition>_pred.npz``); image and label from the run's cache, downsampled to the same size.

**Static or interactive.** With ``static=None`` the inspector decides by itself (:func:`is_headless`): it is
interactive (ipywidgets) only inside a Jupyter kernel that a front end started (JupyterLab / Notebook 7
through jupyter_server, which sets ``JPY_SESSION_NAME``; Google Colab), and static otherwise, e.g. under
papermill, nbconvert, a plain Python process or a test. The static equivalent is the same content for the
initial selection as a matplotlib figure plus a table, displayed as ordinary outputs so an executed
notebook keeps it. Set ``HERITAGE_WIDGETS=interactive`` (or ``static``) to override the detection, e.g.
in VS Code.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from heritage_core.errors import ConfigError, HeritageError
from heritage_core.evaluate import BASE_HEAD, Evaluation, label_targets, load_evaluation, stored_prediction
from heritage_core.metrics import ABSENT_CLASS_RULE, FLOOR_NAME, normalise_confusion
from heritage_core.taxonomy import IGNORE_INDEX, Taxonomy, default_taxonomy

__all__ = [
    "WIDGETS_ENV",
    "is_headless",
    "resolve_static",
    "head_colours",
    "colourise",
    "overlay",
    "per_class_table",
    "image_class_scores",
    "plot_class_iou",
    "plot_confusion",
    "plot_examples",
    "show_evaluation",
    "Selection",
    "render_static",
    "IoUInspector",
    "iou_inspector",
]

#: Environment variable that forces the inspector's mode: ``static`` or ``interactive``.
WIDGETS_ENV = "HERITAGE_WIDGETS"


# --------------------------------------------------------------------------- headless detection
def is_headless() -> bool:
    """Whether no widget front end will render ipywidgets in this process (see the module docstring).

    Rules, first match wins: ``HERITAGE_WIDGETS`` = ``static`` / ``interactive``; not inside an IPython
    kernel (``ZMQInteractiveShell``) or ipywidgets missing -> headless; a kernel started by jupyter_server
    (``JPY_SESSION_NAME`` set) or Colab -> interactive; any other kernel (papermill, nbclient, nbconvert) ->
    headless.

    Raises:
        ConfigError: ``HERITAGE_WIDGETS`` has another value.
    """
    forced = os.environ.get(WIDGETS_ENV, "").strip().lower()
    if forced:
        if forced not in ("static", "interactive"):
            raise ConfigError(f"environment variable {WIDGETS_ENV}={forced!r}; allowed are 'static' and 'interactive'")
        return forced == "static"
    shell = _shell()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return True
    if importlib.util.find_spec("ipywidgets") is None:
        return True
    return not (os.environ.get("JPY_SESSION_NAME") or "google.colab" in sys.modules)


def _shell() -> Any:
    """The running IPython shell, or None outside IPython (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def resolve_static(static: bool | None) -> bool:
    """``static`` itself, or :func:`is_headless` when it is None.

    Raises:
        ConfigError: ``static`` is neither a bool nor None.
    """
    if static is None:
        return is_headless()
    if not isinstance(static, bool):
        raise ConfigError(f"static is {static!r}; give True (figure + table), False (widgets) or None (auto-detect)")
    return static


# --------------------------------------------------------------------------- colours
def head_colours(head: str, taxonomy: Taxonomy | None = None) -> np.ndarray:
    """Display colours of a head's labels: fine classes in the dataset colours, a coarse group in the colour
    of its first fine class, binary damage white.

    Returns:
        (C, 3) uint8.
    """
    taxonomy = taxonomy or default_taxonomy()
    level = BASE_HEAD.get(head, head)
    fine = taxonomy.fine_rgb()
    if level == "fine":
        return fine
    if level == "coarse":
        first = [taxonomy.fine_to_coarse.index(g) for g in range(len(taxonomy.coarse_names))]
        return fine[first]
    return np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8)


def colourise(labels: np.ndarray, head: str, taxonomy: Taxonomy | None = None) -> np.ndarray:
    """Colour a label map; 255 takes the taxonomy's ignore colour.

    Shapes:
        labels: (h, w) uint8 -> (h, w, 3) uint8.
    """
    taxonomy = taxonomy or default_taxonomy()
    table = np.zeros((256, 3), dtype=np.uint8)
    colours = head_colours(head, taxonomy)
    table[: len(colours)] = colours
    ignore = taxonomy.ignore_colour
    table[IGNORE_INDEX] = [int(ignore[1:3], 16), int(ignore[3:5], 16), int(ignore[5:7], 16)]
    return table[labels]


def overlay(image: np.ndarray, labels: np.ndarray, head: str, alpha: float = 0.6,
            taxonomy: Taxonomy | None = None) -> np.ndarray:
    """Blend label colours over an image where the label is not clean (0); clean pixels show the image.

    Shapes:
        image: (h, w, 3) uint8; labels: (h, w) uint8 -> (h, w, 3) uint8.
    """
    colour = colourise(labels, head, taxonomy).astype(np.float32)
    out = image.astype(np.float32)
    marked = (labels != 0)[..., None]
    return np.where(marked, (1 - alpha) * out + alpha * colour, out).round().astype(np.uint8)


# --------------------------------------------------------------------------- tables
def per_class_table(evaluation: Evaluation, partition: str, head: str) -> pd.DataFrame:
    """Per-class scores of one partition and scored head, from ``metrics.json`` (NaN where undefined).

    Returns:
        Columns ``class_id, class_name, iou, iou_ci_low, iou_ci_high, floor_iou, acc, dice, support_px,
        support_images`` (``floor_iou``: the all-Clean predictor on the same images); ``attrs["caption"]``
        holds the head's mIoU beside the floor's and the absent-class rule.

    Raises:
        ConfigError: the partition was not evaluated or the head not scored.
    """
    h = _head_scores(evaluation, partition, head)
    cls, floor = h["classes"], h.get("floor") or {}
    nan = lambda values: [np.nan if v is None else v for v in values]  # noqa: E731
    table = pd.DataFrame({
        "class_id": range(len(cls["names"])), "class_name": cls["names"],
        "iou": nan(cls["iou"]), "iou_ci_low": nan(cls["iou_ci_low"]), "iou_ci_high": nan(cls["iou_ci_high"]),
        "floor_iou": nan(floor.get("iou") or [None] * len(cls["names"])), "acc": nan(cls["acc"]), "dice": nan(cls["dice"]), "support_px": cls["support_px"],
        "support_images": cls["support_images"] if cls["support_images"] is not None else pd.NA,
    })
    miou, floor_miou = h["miou"], floor.get("miou")
    versus = (f" against {100 * floor_miou:.1f} % for the {FLOOR_NAME} floor on the same images"
              f"{'' if floor.get('clears') is not False else ' (the interval does not clear it)'}"
              if floor_miou is not None else "")
    table.attrs["caption"] = (
        f"{partition} / {head}: mIoU {100 * miou:.1f} %{versus}, over {h['n_classes_scored']} scored classes, "
        f"{h['n_images']} images. " if miou is not None else f"{partition} / {head}: no class scored. "
    ) + ABSENT_CLASS_RULE + " support_px: labelled pixels of the class; support_images: images containing it."
    return table


def _head_scores(evaluation: Evaluation, partition: str, head: str) -> dict[str, Any]:
    scores = evaluation.metrics["partitions"].get(partition, {})
    if "heads" not in scores:
        raise ConfigError(f"partition '{partition}' of run '{evaluation.run_dir}' was not evaluated "
                          f"(evaluated: {evaluation.evaluated_partitions})")
    if head not in scores["heads"]:
        raise ConfigError(f"head '{head}' was not scored on '{partition}' of run '{evaluation.run_dir}'; "
                          f"scored: {list(scores['heads'])}")
    return scores["heads"][head]


def image_class_scores(evaluation: Evaluation, partition: str, head: str, class_id: int) -> pd.DataFrame:
    """Per-image IoU of one class: the ranking behind the best and worst examples.

    Returns:
        Columns ``id, iou, intersection, union, label_px, pred_px``, one row per image labelled with the class
        (``label_px > 0``), sorted by IoU descending (ties by id).
    """
    counts = evaluation.counts(partition)[head]
    frame = pd.DataFrame({
        "id": counts.ids,
        "intersection": counts.intersection[:, class_id], "union": counts.union[:, class_id],
        "label_px": counts.label[:, class_id], "pred_px": counts.pred[:, class_id],
    })
    frame = frame[frame["label_px"] > 0].copy()
    frame["iou"] = frame["intersection"] / frame["union"]
    frame = frame.sort_values(["iou", "id"], ascending=[False, True]).reset_index(drop=True)
    return frame[["id", "iou", "intersection", "union", "label_px", "pred_px"]]


# --------------------------------------------------------------------------- figures
def plot_class_iou(table: pd.DataFrame, highlight: str | None = None, title: str = "", ax: Any = None) -> Any:
    """Horizontal bars of per-class IoU (%) with 95 % CI whiskers and the all-Clean floor (red ticks: Clean's
    pixel share, 0 for a labelled damage class); absent classes marked "–".

    Args:
        table: output of :func:`per_class_table`.
        highlight: class name drawn in a darker colour.
        title: axes title.
        ax: matplotlib axes to draw into; None for a new figure.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 0.3 * len(table) + 1.0))
    y = np.arange(len(table))[::-1]
    iou = 100 * table["iou"].to_numpy(dtype=float)
    low = 100 * table["iou_ci_low"].to_numpy(dtype=float)
    high = 100 * table["iou_ci_high"].to_numpy(dtype=float)
    colours = ["#1f4e79" if name == highlight else "#7fa7cf" for name in table["class_name"]]
    ax.barh(y, np.nan_to_num(iou), color=colours)
    err = np.vstack([np.nan_to_num(iou - low), np.nan_to_num(high - iou)])
    has_ci = np.isfinite(low) & np.isfinite(high)
    ax.errorbar(iou[has_ci], y[has_ci], xerr=err[:, has_ci], fmt="none", ecolor="black", capsize=2, lw=0.8)
    if "floor_iou" in table:
        floor = 100 * table["floor_iou"].to_numpy(dtype=float)
        shown = np.isfinite(floor)
        ax.plot(floor[shown], y[shown], "|", color="#B22222", markersize=9, mew=1.6, label=f"{FLOOR_NAME} floor")
        if shown.any():
            ax.legend(loc="lower right", fontsize=7, frameon=False)
    for yy, value in zip(y, iou):
        if not np.isfinite(value):
            ax.text(1, yy, "–", va="center")
    ax.set_yticks(y, [f"{n} ({s:,} px)" for n, s in zip(table["class_name"], table["support_px"])], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("IoU (%) with 95 % bootstrap CI")
    _set_fitting_title(ax, title, fontsize=9)
    return ax.figure


def _set_fitting_title(ax: Any, title: str, fontsize: float) -> None:
    """Set ``title`` over ``ax`` and tighten the figure's layout, breaking the title's lines at spaces so that
    none is wider than the figure leaves a line centred on the axes (long run names would be cut off)."""
    from matplotlib.font_manager import FontProperties

    figure = ax.figure
    figure.tight_layout()
    renderer = figure.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    centre = (box.x0 + box.x1) / 2
    room_px = 2 * min(centre, figure.bbox.width - centre)
    font = FontProperties(size=fontsize)

    def fits(text: str) -> bool:
        return renderer.get_text_width_height_descent(text, font, ismath=False)[0] <= room_px

    lines: list[str] = []
    for line in title.split("\n"):
        words = line.split(" ")
        current = words[0]
        for word in words[1:]:
            if fits(f"{current} {word}"):
                current = f"{current} {word}"
            else:
                lines.append(current)
                current = word
        lines.append(current)
    ax.set_title("\n".join(lines), fontsize=fontsize)
    figure.tight_layout()


def plot_confusion(evaluation: Evaluation, partition: str, head: str, ax: Any = None) -> Any:
    """Row-normalised confusion matrix (rows = label) of one partition and scored head.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    h = _head_scores(evaluation, partition, head)
    names = h["classes"]["names"]
    conf = normalise_confusion(np.asarray(h["confusion"], dtype=np.int64))
    if ax is None:
        side = 1.2 + 0.32 * len(names)
        _, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(100 * conf, vmin=0, vmax=100, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("label")
    ax.set_title(f"{partition} / {head}: % of each label row", fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.figure.tight_layout()
    return ax.figure


def _thumbnail(evaluation: Evaluation, partition: str, head: str, item_id: str,
               cache: Any, preds: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """(image, ground truth, prediction) of one image at the stored prediction size."""
    import cv2

    from heritage_core.evaluate import downsample_labels

    k = preds["ids"].index(item_id)
    pred = stored_prediction(preds, head, k)
    if cache is None:
        return None, None, pred
    h, w = pred.shape
    image = cv2.resize(cache.load_image(item_id), (w, h), interpolation=cv2.INTER_AREA)
    targets = label_targets(cache.load_mask(item_id), cache.label_level(item_id), item=item_id)
    truth = downsample_labels(targets[BASE_HEAD[head]], max(h, w))
    return image, truth, pred


def plot_examples(
    evaluation: Evaluation, partition: str, head: str, class_name: str, k: int = 2
) -> tuple[Any, pd.DataFrame]:
    """The ``k`` best and ``k`` worst images for a class: image, ground truth and prediction overlays.

    Args:
        evaluation: the run's evaluation.
        partition: an evaluated partition.
        head: a scored head.
        class_name: a class of the head's level.
        k: images at each end of the ranking.

    Returns:
        (figure, ranking) with the ranking of :func:`image_class_scores` restricted to the images shown
        (column ``rank``: ``best``/``worst``).

    Raises:
        ConfigError: unknown class, partition or head.
    """
    import matplotlib.pyplot as plt

    names = _head_scores(evaluation, partition, head)["classes"]["names"]
    if class_name not in names:
        raise ConfigError(f"class {class_name!r} is not a class of head '{head}'; allowed are {names}")
    ranking = image_class_scores(evaluation, partition, head, names.index(class_name))
    best = ranking.head(k).assign(rank="best")
    worst = ranking.iloc[max(len(best), len(ranking) - k):].iloc[::-1].assign(rank="worst")
    shown = pd.concat([best, worst], ignore_index=True)
    try:
        cache = evaluation.cache()
    except HeritageError:
        cache = None
    preds = evaluation.predictions(partition)
    rows = max(1, len(shown))
    fig, axes = plt.subplots(rows, 3, figsize=(7.5, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if shown.empty:
        axes[0, 0].text(0, 0.5, f"no {partition} image is labelled '{class_name}'", fontsize=9)
    for r, row in shown.iterrows():
        image, truth, pred = _thumbnail(evaluation, partition, head, row["id"], cache, preds)
        base = image if image is not None else np.zeros((*pred.shape, 3), np.uint8)
        panels = [(base, f"{row['rank']}: {row['id']}"),
                  (overlay(base, truth, head) if truth is not None else base, "ground truth"),
                  (overlay(base, pred, head), f"prediction (IoU {100 * row['iou']:.1f} %)")]
        for c, (picture, text) in enumerate(panels):
            axes[r, c].imshow(picture, interpolation="nearest")
            axes[r, c].set_title(text, fontsize=8)
    fig.suptitle(f"{class_name}: best and worst {partition} images ({head})", fontsize=9)
    fig.tight_layout()
    return fig, shown


def show_evaluation(run_dir: str | Path, heads: Sequence[str] = ("binary", "coarse", "fine"),
                    save_dir: str | Path | None = None, display: bool = True) -> dict[str, Path]:
    """Per-class tables (with the absent-class rule and each class's support) and confusion matrices of
    every evaluated partition and the given scored heads, displayed under IPython and saved as PNG.

    Args:
        run_dir: an evaluated run directory.
        heads: scored heads to show (those not scored on a partition are left out there).
        save_dir: folder for ``confusion_<partition>_<head>.png`` and ``classes_<partition>_<head>.csv``;
            None for no files.
        display: display the tables and figures (under IPython).

    Returns:
        ``"<partition>/<head>"`` -> path of the saved confusion figure (empty without ``save_dir``).
    """
    import matplotlib.pyplot as plt

    evaluation = load_evaluation(run_dir)
    show = _displayer(display)
    saved: dict[str, Path] = {}
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
    for part in evaluation.evaluated_partitions:
        for head in [h for h in heads if h in evaluation.scored_heads(part)]:
            table = per_class_table(evaluation, part, head)
            fig = plot_confusion(evaluation, part, head)
            if save_dir is not None:
                saved[f"{part}/{head}"] = Path(save_dir) / f"confusion_{part}_{head}.png"
                fig.savefig(saved[f"{part}/{head}"], dpi=110)
                table.to_csv(Path(save_dir) / f"classes_{part}_{head}.csv", index=False)
            if show is not None:
                from IPython.display import Markdown

                show(Markdown(f"### {part} / {head}\n\n{table.attrs['caption']}"))
                show(table.style.format({c: "{:.3f}" for c in ("iou", "iou_ci_low", "iou_ci_high", "acc", "dice")},
                                        na_rep="–"))
                _show_figure(show, fig)
            plt.close(fig)
    return saved


def _show_figure(show: Any, fig: Any) -> None:
    """Display a figure as a PNG image, whatever the matplotlib backend (Agg under papermill included)."""
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    show(Image(data=buffer.getvalue(), format="png"))


def _displayer(display: bool) -> Any:
    """IPython's ``display`` when asked for and running under IPython, else None."""
    if not display or _shell() is None:
        return None
    from IPython.display import display as show

    return show


# --------------------------------------------------------------------------- the inspector
@dataclass(frozen=True)
class Selection:
    """What the inspector shows: a run (index into its run list), partition, scored head and class."""

    run: int
    partition: str
    head: str
    class_name: str
    k: int = 2


def _label(ev: Evaluation) -> str:
    e = ev.eval_info
    return f"{e.get('fold')} / {e.get('variant')} / {e.get('encoder')} / seed {e.get('seed')}"


def _default_class(ev: Evaluation, partition: str, head: str) -> str:
    """The damage class (id > 0) with the most labelled pixels in the partition (else the first class)."""
    cls = _head_scores(ev, partition, head)["classes"]
    support = np.asarray(cls["support_px"][1:])
    return cls["names"][1 + int(support.argmax())] if support.size and support.max() > 0 else cls["names"][0]


def render_static(evaluations: Sequence[Evaluation], selection: Selection, save_dir: str | Path | None = None,
                  display: bool = True, live: bool = False) -> tuple[list[Any], pd.DataFrame]:
    """The inspector's content for one selection, as figures and a table (the headless equivalent).

    Args:
        evaluations: the runs the inspector was built on.
        selection: what to show.
        save_dir: folder to save ``inspector_bars.png`` and ``inspector_examples.png`` into; None for no files.
        display: display the figures and table with IPython (when running under IPython).
        live: drawn by the interactive inspector (the caption says so) rather than as the static view.

    Returns:
        ([bar figure, example figure], per-class table with the example ranking in ``attrs["examples"]``); the
        figures are closed (pyplot no longer shows them again) but can still be saved.
    """
    import matplotlib.pyplot as plt

    ev = evaluations[selection.run]
    table = per_class_table(ev, selection.partition, selection.head)
    bars = plot_class_iou(table, highlight=selection.class_name,
                          title=f"{_label(ev)}\n{selection.partition} / {selection.head}")
    examples, shown = plot_examples(ev, selection.partition, selection.head, selection.class_name, selection.k)
    table.attrs["examples"] = shown
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        bars.savefig(Path(save_dir) / "inspector_bars.png", dpi=120)
        examples.savefig(Path(save_dir) / "inspector_examples.png", dpi=120)
    show = _displayer(display)
    if show is not None:
        from IPython.display import Markdown

        mode = "live: every control above redraws this view" if live else "static view"
        show(Markdown(f"**Per-class IoU inspector** ({mode}): {_label(ev)}, {selection.partition}, "
                      f"head {selection.head}, class {selection.class_name}, {selection.k} best and worst images. "
                      f"{table.attrs['caption']}"))
        _show_figure(show, bars)
        show(table)
        _show_figure(show, examples)
        show(shown)
    for fig in (bars, examples):
        plt.close(fig)
    return [bars, examples], table


class IoUInspector:
    """ipywidgets front end: dropdowns for fold, run, partition, head and class, an example count, and an
    output area redrawn with :func:`render_static` on every change.

    Args:
        evaluations: evaluated runs (at least one).
        selection: the initial selection.

    Attributes:
        widget: the ``ipywidgets.VBox`` to display.
        selection: the current selection.
    """

    def __init__(self, evaluations: Sequence[Evaluation], selection: Selection) -> None:
        import ipywidgets as w

        self.evaluations = list(evaluations)
        self.selection = selection
        folds = sorted({str(ev.eval_info.get("fold")) for ev in self.evaluations})
        first = self.evaluations[selection.run]
        self.fold = w.Dropdown(options=folds, value=str(first.eval_info.get("fold")), description="fold")
        self.run = w.Dropdown(description="run")
        self.partition = w.Dropdown(description="partition")
        self.head = w.Dropdown(description="head")
        self.class_name = w.Dropdown(description="class")
        self.k = w.BoundedIntText(value=selection.k, min=1, max=10, description="examples")
        self.output = w.Output()
        self.widget = w.VBox([w.HBox([self.fold, self.run]), w.HBox([self.partition, self.head]),
                              w.HBox([self.class_name, self.k]), self.output])
        self._busy = False
        self._fill(selection)
        for control in (self.fold, self.run, self.partition, self.head, self.class_name, self.k):
            control.observe(self._changed, names="value")
        self.redraw()

    def _fill(self, s: Selection) -> None:
        """Set every dropdown's options and value from a selection, without triggering redraws."""
        self._busy = True
        ev = self.evaluations[s.run]
        fold = str(ev.eval_info.get("fold"))
        self.fold.value = fold
        self.run.options = [(_label(e), i) for i, e in enumerate(self.evaluations)
                            if str(e.eval_info.get("fold")) == fold]
        self.run.value = s.run
        self.partition.options = ev.evaluated_partitions
        self.partition.value = s.partition
        self.head.options = ev.scored_heads(s.partition)
        self.head.value = s.head
        self.class_name.options = _head_scores(ev, s.partition, s.head)["classes"]["names"]
        self.class_name.value = s.class_name
        self.k.value = s.k
        self._busy = False

    def _changed(self, change: dict[str, Any]) -> None:
        if self._busy:
            return
        owner = change["owner"]
        run = self.run.value
        if owner is self.fold:
            run = next(i for i, e in enumerate(self.evaluations) if str(e.eval_info.get("fold")) == self.fold.value)
        ev = self.evaluations[run]
        parts = ev.evaluated_partitions
        partition = self.partition.value if self.partition.value in parts else parts[0]
        heads = ev.scored_heads(partition)
        head = self.head.value if self.head.value in heads else heads[0]
        names = _head_scores(ev, partition, head)["classes"]["names"]
        cls = self.class_name.value if self.class_name.value in names else _default_class(ev, partition, head)
        self.selection = Selection(run, partition, head, cls, int(self.k.value))
        self._fill(self.selection)
        self.redraw()

    def redraw(self) -> None:
        """Render the current selection into the output area."""
        self.output.clear_output(wait=True)
        with self.output:
            render_static(self.evaluations, self.selection, display=True, live=True)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def iou_inspector(
    runs: str | Path | Sequence[str | Path],
    *,
    partition: str | None = None,
    head: str = "fine",
    class_name: str | None = None,
    k: int = 2,
    static: bool | None = None,
    save_dir: str | Path | None = None,
) -> IoUInspector | tuple[list[Any], pd.DataFrame]:
    """Open the per-class IoU inspector on evaluated runs (module docstring).

    Args:
        runs: a suite directory, a folder of run directories, one run directory, or a list of them.
        partition: initial partition; None for ``ood_test`` when evaluated, else ``id_test``, else the first
            evaluated one.
        head: initial scored head.
        class_name: initial class; None for the damage class with the most labelled pixels.
        k: best and worst images shown.
        static: True for the static figures + table, False for widgets, None to detect (:func:`is_headless`).
        save_dir: in static mode, folder for the PNG files of the view; None for none.

    Returns:
        The :class:`IoUInspector` (interactive), or what :func:`render_static` returns (static); under IPython
        either is already displayed, so assign the result to keep it from being shown twice.

    Raises:
        RunError: no evaluated run.
        ConfigError: an unknown partition, head or class.
    """
    from heritage_core.dg import load_evaluations

    evaluations = load_evaluations(runs, "iou_inspector")
    first = evaluations[0]
    parts = first.evaluated_partitions
    if partition is None:
        partition = next((p for p in ("ood_test", "id_test") if p in parts), parts[0])
    if partition not in parts:
        raise ConfigError(f"iou_inspector: partition {partition!r} was not evaluated in '{first.run_dir}'; "
                          f"evaluated are {parts}")
    _head_scores(first, partition, head)
    selection = Selection(0, partition, head, class_name or _default_class(first, partition, head), k)
    if resolve_static(static):
        return render_static(evaluations, selection, save_dir=save_dir)
    inspector = IoUInspector(evaluations, selection)
    show = _displayer(True)
    if show is not None:
        show(inspector.widget)
    return inspector
