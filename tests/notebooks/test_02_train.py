"""Executes notebooks/02_train_curriculum.ipynb with papermill (smoke: one epoch of 2 batches per stage, convnext_atto
at 64 px on the CPU) and checks the run directory it leaves."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import papermill
import pytest

from heritage_core.train import HISTORY_COLUMNS, load_trained_model, read_run_info
from train_builders import write_manifest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_train_curriculum.ipynb"


@pytest.mark.slow
def test_02_trains_all_stages_and_plots(synthetic_cache: Path, tmp_path: Path) -> None:
    manifest = write_manifest(synthetic_cache, tmp_path / "splits")
    run_dir = tmp_path / "run"
    executed = tmp_path / "02_train_curriculum.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(executed), kernel_name="python3", progress_bar=False,
        parameters={"smoke": True, "cache_dir": str(synthetic_cache), "manifest_path": str(manifest),
                    "variant": "curriculum", "epochs_scale": 1.0, "stage_epochs": None, "encoder": "convnext_atto",
                    "pretrained": None, "img_size": 64, "batch_size": 4, "decoder_channels": 32,
                    "max_batches_per_epoch": None, "class_weights": True, "augment": True, "amp": False, "seed": 0,
                    "device": "cpu", "num_workers": 0,
                    "run_dir": str(run_dir), "force": False, "progress": False},
    )
    info = read_run_info(run_dir)
    assert info["status"] == "finished" and info["variant"] == "curriculum" and info["img_size"] == 64
    assert info["params"]["stage_epochs"] == [1, 1, 1] and info["params"]["max_batches_per_epoch"] == 2
    assert info["params"]["decoder_channels"] == 32 and set(info["class_weights"]) == {"binary", "coarse", "fine"}
    history = pd.read_csv(run_dir / "history.csv")
    assert tuple(history.columns) == HISTORY_COLUMNS
    assert history["stage_name"].tolist() == ["binary", "coarse", "fine"]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == sorted(
        f"stage{k}_{kind}.pt" for k in (1, 2, 3) for kind in ("best", "last"))
    assert (run_dir / "figures" / "training_curves.pdf").read_bytes()[:4] == b"%PDF"
    assert (run_dir / "figures" / "training_curves.png").stat().st_size > 10_000
    model, _ = load_trained_model(run_dir)
    assert model.head_names == ("binary", "coarse", "fine")
    outputs = [o for cell in json.loads(executed.read_text())["cells"] for o in cell.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not [p for p in tmp_path.iterdir() if p.name not in {"splits", "run", executed.name}]
