"""The paper's figure style: one rcParams set, figure widths, colour-blind-safe colours, shared drawing helpers.

:func:`paper_style` sets :data:`PAPER_RC` (STIX serif like the paper's Times, 8 pt text, 7 pt ticks and
legends, TrueType fonts embedded in PDFs). Figures are sized for a 3.3 in column (:data:`COLUMN_WIDTH_IN`)
or the 6.9 in page (:data:`FULL_WIDTH_IN`). Variants use the Okabe–Ito palette plus a marker each, so they
stay apart in grey-scale too; classes use the taxonomy's colours; heat maps use ``cividis``. Undefined
cells (an absent class) are grey, hatched and marked "n/a".
"""
from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from heritage_core.report.aggregate import FLOOR, VARIANT_LABELS
from heritage_core.train.variants import load_variants

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "COLUMN_WIDTH_IN",
    "FULL_WIDTH_IN",
    "PAPER_RC",
    "VARIANT_COLOURS",
    "VARIANT_MARKERS",
    "HEAD_STYLE",
    "NA_FACE",
    "CMAP",
    "PARTITION_NAMES",
    "paper_style",
    "variant_colour",
    "variant_label",
    "wrap_label",
    "draw_na_cell",
    "draw_confusion",
    "class_swatches",
    "text_colour",
]

COLUMN_WIDTH_IN = 3.3
#: Width of the full page (``figure*``), inches.
FULL_WIDTH_IN = 6.9
#: The paper's matplotlib settings (used by :func:`paper_style`).
PAPER_RC: dict[str, Any] = {
    "font.family": "serif",
    "font.serif": ["STIXGeneral", "DejaVu Serif"],
    "mathtext.fontset": "stix",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 8,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "lines.linewidth": 1.0,
    "lines.markersize": 4,
    "legend.frameon": False,
    "hatch.linewidth": 0.5,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.dpi": 300,
    "figure.dpi": 100,
}
#: Okabe–Ito colours of the ablation's variants (``configs/variants.yaml``; distinguishable with every common
#: colour-vision deficiency), and grey for the all-Clean floor.
VARIANT_COLOURS = {**{name: v.colour for name, v in load_variants().items()}, FLOOR: "#999999"}
#: One marker per variant, so the figures also read in grey-scale.
VARIANT_MARKERS = {**{name: v.marker for name, v in load_variants().items()}, FLOOR: "x"}
HEAD_STYLE = {"binary": ("#CC79A7", ":"), "coarse": ("#D55E00", "--"), "fine": ("#000000", "-")}
NA_FACE = "#D9D9D9"
CMAP = "cividis"
PARTITION_NAMES = {"train": "train", "id_test": "ID test", "ood_test": "OOD test"}


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Apply :data:`PAPER_RC` (and the Agg-safe defaults) inside the ``with`` block."""
    import matplotlib

    with matplotlib.rc_context(PAPER_RC):
        yield


def variant_colour(variant: str) -> str:
    return VARIANT_COLOURS.get(variant, "#555555")


def variant_label(variant: str) -> str:
    return VARIANT_LABELS.get(variant, variant)


def wrap_label(text: str, width: int = 12) -> str:
    return textwrap.fill(str(text), width)


def draw_na_cell(ax: Axes, x: float, y: float, text: bool) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=NA_FACE, edgecolor="#9A9A9A", hatch="////",
                           linewidth=0))
    if text:
        ax.text(x, y, "n/a", ha="center", va="center", fontsize=7, color="#333333")


def draw_confusion(ax: Axes, counts: np.ndarray, class_names: Sequence[str], *, row_labels: bool = True) -> Any:
    """A row-normalised confusion matrix on ``ax`` (rows = label, % of the label's pixels, :data:`CMAP`).

    Rows of classes without labelled pixels are grey and hatched, "n/a" in their first column: the one way
    notebook 03 and the paper draw a confusion matrix.

    Args:
        ax: the axes.
        counts: (C, C) summed confusion counts (rows = label, columns = prediction).
        class_names: the C class names.
        row_labels: name the rows (the first panel of a row of matrices) or leave them blank.

    Returns:
        The image, for a colour bar.
    """
    from heritage_core.evaluation.metrics import normalise_confusion

    c = len(class_names)
    conf = 100 * normalise_confusion(np.asarray(counts))
    image = ax.imshow(np.ma.masked_invalid(conf), cmap=CMAP, vmin=0, vmax=100)
    for i in np.flatnonzero(~np.isfinite(conf).all(axis=1)):
        for j in range(c):
            draw_na_cell(ax, j, i, text=j == 0)
    ax.set_xticks(range(c), class_names, rotation=90)
    ax.set_yticks(range(c), class_names if row_labels else [""] * c)
    ax.set_xlabel("predicted class")
    if row_labels:
        ax.set_ylabel("labelled class")
    else:
        ax.tick_params(axis="y", length=0)
    ax.spines[:].set_visible(False)
    return image


def class_swatches(ax: Axes, colours: Sequence[str]) -> None:
    """Small squares in the class colours between the y tick labels and the axis (rows = classes)."""
    from matplotlib.transforms import ScaledTranslation

    ax.tick_params(axis="y", pad=8, length=0)
    trans = ax.get_yaxis_transform() + ScaledTranslation(-4.5 / 72, 0, ax.figure.dpi_scale_trans)
    ax.scatter(np.zeros(len(colours)), np.arange(len(colours)), s=14, marker="s", c=list(colours),
               edgecolors="#333333", linewidths=0.3, transform=trans, clip_on=False, zorder=5)


def text_colour(value: float) -> str:
    return "black" if value >= 55 else "white"


