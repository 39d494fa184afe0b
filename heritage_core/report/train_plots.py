"""Training curves and tables of a run: per-stage losses and val mIoU, stage boundaries marked.

Used by notebook 02; reads only ``history.csv`` and ``run.json`` of a run directory.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from heritage_core.taxonomy import HEADS
from heritage_core.train import TrainConfig, read_history, read_run_info

__all__ = ["plot_history", "stage_table", "run_summary"]

_HEAD_COLOURS = {"binary": "#4C72B0", "coarse": "#DD8452", "fine": "#55A868", "total": "#222222"}


def _global_epochs(history: pd.DataFrame) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Epoch number across stages (1, 2, …) and each stage's (start, end, name) on that axis."""
    x = np.arange(1, len(history) + 1, dtype=float)
    spans = []
    for _, rows in history.groupby("stage", sort=True):
        idx = rows.index.to_numpy()
        spans.append((x[idx[0]] - 0.5, x[idx[-1]] + 0.5, str(rows["stage_name"].iloc[0])))
    return x, spans


def plot_history(history: pd.DataFrame | str | Path, out_dir: str | Path | None = None,
                 name: str = "training_curves") -> Figure:
    """Two panels over the epochs of all stages: training losses, and val mIoU per head.

    Stage boundaries are dashed lines with the stage name on top; the epoch each stage selected (best
    ``val_score``, the mIoU of its finest loss head; first one on ties) is circled.

    Args:
        history: a ``history.csv`` DataFrame, or a run directory holding one.
        out_dir: folder to save ``<name>.pdf`` and ``<name>.png`` in (created), after which the figure is
            closed (display the PNG, e.g. with ``IPython.display.Image``); None saves nothing and leaves it open.
        name: file stem of the saved figure.

    Returns:
        The figure.
    """
    if not isinstance(history, pd.DataFrame):
        history = read_history(history)
    history = history.reset_index(drop=True)
    x, spans = _global_epochs(history)
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    ax_loss.plot(x, history["loss_total"], color=_HEAD_COLOURS["total"], marker="o", ms=3, label="total (weighted)")
    for head in HEADS:
        ax_loss.plot(x, history[f"loss_{head}"], color=_HEAD_COLOURS[head], ls="--", marker=".", label=head)
        val = history[f"val_miou_{head}"].to_numpy(dtype=float)
        scored = np.isfinite(val)  # epochs that were validated (every val_interval epochs)
        ax_val.plot(x[scored], val[scored], color=_HEAD_COLOURS[head], marker="o", ms=3, label=head)
    for _, rows in history.groupby("stage", sort=True):
        scores = rows["val_score"].to_numpy(dtype=float)
        if np.isfinite(scores).any():
            best = rows.index[int(np.nanargmax(scores))]
            ax_val.plot(x[best], scores[int(np.nanargmax(scores))], "o", ms=11, mfc="none", mec="black")
    for ax in (ax_loss, ax_val):
        for k, (start, end, stage) in enumerate(spans):
            if k:
                ax.axvline(start, color="grey", ls=":", lw=1)
            ax.text((start + end) / 2, 1.01, stage, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=9)
        ax.set_xlabel("epoch (all stages)")
        ax.set_xlim(0.5, len(history) + 0.5)
        ax.grid(alpha=0.3)
    ax_loss.set_ylabel("training loss (mean over steps)")
    ax_val.set_ylabel("val mIoU (ΣI/ΣU; circle: selected epoch)")
    ax_val.set_ylim(0, 1)
    ax_loss.legend(fontsize=8)
    ax_val.legend(fontsize=8)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        fig.savefig(out / f"{name}.pdf")
        fig.savefig(out / f"{name}.png", dpi=150)
        plt.close(fig)
    return fig


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
