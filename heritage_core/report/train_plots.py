"""Training curves and tables of a run: loss and val mIoU over the stages, the stages as a table, the selection.

Used by notebook 02; reads only ``history.csv`` and ``run.json`` of a run directory.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from heritage_core.report.figures import training_curves_figure
from heritage_core.runs import save_figure
from heritage_core.taxonomy import HEADS
from heritage_core.train import TrainConfig, read_history, read_run_info

__all__ = ["plot_history", "save_history_figure", "stage_table", "run_summary"]

def plot_history(history: pd.DataFrame | str | Path) -> Figure:
    """The paper's training-curve figure (:func:`heritage_core.report.figures.training_curves_figure`) of one run:
    training loss and val mIoU per head over the epochs of all stages, stage boundaries dotted, the epoch each
    stage selected (best ``val_score``, the mIoU of its finest loss head; first one on ties) circled.

    Args:
        history: a ``history.csv`` DataFrame, or a run directory holding one (its ``run.json`` names the variant).

    Returns:
        The figure (open).
    """
    variant = "run"
    if not isinstance(history, pd.DataFrame):
        variant = str(read_run_info(history).get("variant", variant))
        history = read_history(history)
    return training_curves_figure({variant: history})


def save_history_figure(run_dir: str | Path, out_dir: str | Path | None = None, name: str = "training_curves"
                        ) -> dict[str, Path]:
    """:func:`plot_history` of a run saved as ``<out_dir>/<name>.pdf`` and ``.png`` (:func:`save_figure`), then closed.

    Args:
        run_dir: the run directory.
        out_dir: where to save; None for ``<run_dir>/figures``.
        name: file stem.

    Returns:
        ``pdf`` / ``png`` -> the path written (notebook 02 displays the PNG).
    """
    fig = plot_history(run_dir)
    try:
        return save_figure(fig, Path(out_dir if out_dir is not None else Path(run_dir) / "figures") / name)
    finally:
        plt.close(fig)


def stage_table(config: TrainConfig) -> pd.DataFrame:
    """The stages a config will train: name, epochs, lr, warm-up share, loss heads, trainable patterns,
    selection head; one row per stage."""
    return pd.DataFrame([
        {"stage": k, "name": s.name, "epochs": s.epochs, "lr": s.lr, "warmup_fraction": s.warmup_fraction,
         "loss_heads": ", ".join(s.loss_heads), "trainable": ", ".join(s.trainable), "selection_head": s.selection_head}
        for k, s in enumerate(config.stages(), start=1)
    ]).set_index("stage")


def run_summary(run_dir: str | Path) -> pd.DataFrame:
    """Per stage of a finished run: trainable/total parameters, selected epoch, its val score and val mIoUs."""
    info = read_run_info(run_dir)
    rows = []
    for sel in info.get("selection", []):
        counts = info.get("trainable_params", {}).get(str(sel["stage"]), {})
        rows.append({"stage": sel["stage"], "name": sel["stage_name"], "trainable_params": counts.get("trainable"),
                     "total_params": counts.get("total"), "selection_head": sel["selection_head"],
                     "best_epoch": sel["best_epoch"], "val_score": sel["val_score"],
                     **{f"val_miou_{h}": sel[f"val_miou_{h}"] for h in HEADS}})
    return pd.DataFrame(rows).set_index("stage") if rows else pd.DataFrame()
