"""The per-class IoU inspector, and the static figures and tables that notebooks 03 and 04 show.

:func:`iou_inspector` lets a reader pick a fold, a run, a partition, a scored head and a class, and shows

* the per-class IoU of that run, partition and head as bars with their 95 % bootstrap intervals (read from
  ``eval/metrics.json``; a class absent from labels and predictions has no bar, see
  :data:`~heritage_core.evaluation.metrics.ABSENT_CLASS_RULE`), and
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

from heritage_core.errors import ConfigError
from heritage_core.evaluation.store import Evaluation, load_evaluation
from heritage_core.report.panels import head_scores, per_class_table, plot_class_iou, plot_confusion, plot_examples
from heritage_core.runs import FIGURE_DPI, save_figure

__all__ = [
    "WIDGETS_ENV",
    "is_headless",
    "resolve_static",
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


# --------------------------------------------------------------------------- tables


# --------------------------------------------------------------------------- figures


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
                saved[f"{part}/{head}"] = save_figure(fig, Path(save_dir) / f"confusion_{part}_{head}", ("png",))["png"]
                table.to_csv(Path(save_dir) / f"classes_{part}_{head}.csv", index=False)
            if show is not None:
                from IPython.display import Markdown

                show(Markdown(f"### {part} / {head}\n\n{table.attrs['caption']}"))
                show(table.style.format({c: "{:.3f}" for c in ("iou", "iou_ci_low", "iou_ci_high", "acc", "dice")},
                                        na_rep="–"))
                if save_dir is not None:
                    _show_png(show, saved[f"{part}/{head}"])
                else:
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


def _show_png(show: Any, path: Path) -> None:
    """Display a PNG written by :func:`~heritage_core.runs.save_figure` at the size :func:`_show_figure` gives
    (100 px an inch of the figure), without rendering the figure a second time."""
    from IPython.display import Image

    data = path.read_bytes()
    width_px = int.from_bytes(data[16:20], "big")  # the IHDR chunk's width field
    show(Image(data=data, format="png", width=round(width_px * 100 / FIGURE_DPI)))


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
    cls = head_scores(ev, partition, head)["classes"]
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
        save_figure(bars, Path(save_dir) / "inspector_bars", ("png",))
        save_figure(examples, Path(save_dir) / "inspector_examples", ("png",))
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
        self.class_name.options = head_scores(ev, s.partition, s.head)["classes"]["names"]
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
        names = head_scores(ev, partition, head)["classes"]["names"]
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
    from heritage_core.evaluation.dg import load_evaluations

    evaluations = load_evaluations(runs, "iou_inspector")
    first = evaluations[0]
    parts = first.evaluated_partitions
    if partition is None:
        partition = next((p for p in ("ood_test", "id_test") if p in parts), parts[0])
    if partition not in parts:
        raise ConfigError(f"iou_inspector: partition {partition!r} was not evaluated in '{first.run_dir}'; "
                          f"evaluated are {parts}")
    head_scores(first, partition, head)
    selection = Selection(0, partition, head, class_name or _default_class(first, partition, head), k)
    if resolve_static(static):
        return render_static(evaluations, selection, save_dir=save_dir)
    inspector = IoUInspector(evaluations, selection)
    show = _displayer(True)
    if show is not None:
        show(inspector.widget)
    return inspector
