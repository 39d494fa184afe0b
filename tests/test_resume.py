"""Resume equivalence with real processes: kill -9 after the first checkpoint, and SIGUSR1 preemption mid-epoch.

Each run is ``python -m heritage_core.train --config run.yaml`` in a subprocess. An interrupted-and-resumed
run must end with the same history (every column but the timings) and the same final weights, bit for bit,
as an uninterrupted one with the same seed on the CPU.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from heritage_core.train import PREEMPTED_EXIT_CODE, read_run_info
from train_builders import tiny_config, write_manifest

pytestmark = pytest.mark.slow

#: History columns that must match exactly (timings differ between processes).
EXACT = ["stage", "stage_name", "epoch", "lr", "loss_binary", "loss_coarse", "loss_fine", "loss_total",
         "validated", "val_miou_binary", "val_miou_coarse", "val_miou_fine", "val_score"]
TIMEOUT_S = 300


def _start(config: dict, path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    path.write_text(yaml.safe_dump(config))
    return subprocess.Popen([sys.executable, "-m", "heritage_core.train", "--config", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=TIMEOUT_S)
    return proc.returncode, out


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not path.exists():
        assert proc.poll() is None, f"trainer exited ({proc.returncode}) before writing {path}:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, f"no {path} after {TIMEOUT_S} s"
        time.sleep(0.01)


def _outcome(run_dir: Path) -> tuple[pd.DataFrame, dict[str, torch.Tensor], list]:
    history = pd.read_csv(run_dir / "history.csv", dtype=str, keep_default_na=False)[EXACT]
    weights = torch.load(run_dir / "checkpoints" / "stage3_best.pt", weights_only=True)["model"]
    return history, weights, read_run_info(run_dir)["selection"]


def _assert_same(a: Path, b: Path) -> None:
    hist_a, weights_a, sel_a = _outcome(a)
    hist_b, weights_b, sel_b = _outcome(b)
    pd.testing.assert_frame_equal(hist_a, hist_b)
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert sel_a == sel_b


def test_killed_and_preempted_runs_resume_to_identical_results(synthetic_cache: Path, tmp_path: Path) -> None:
    manifest = write_manifest(synthetic_cache, tmp_path / "splits")
    base = tiny_config(synthetic_cache, manifest, tmp_path / "reference", variant="curriculum",
                       stage_epochs=[2, 1, 1], max_batches_per_epoch=3)

    ref = _start(base, tmp_path / "reference.yaml")
    code, out = _finish(ref)
    assert code == 0, out

    # kill -9 as soon as the first epoch's checkpoint is in place, then resume
    killed_cfg = {**base, "run_dir": str(tmp_path / "killed")}
    proc = _start(killed_cfg, tmp_path / "killed.yaml")
    _wait_for(tmp_path / "killed" / "checkpoints" / "stage1_last.pt", proc)
    proc.send_signal(signal.SIGKILL)
    assert _finish(proc)[0] == -signal.SIGKILL
    assert read_run_info(tmp_path / "killed")["status"] == "running"
    code, out = _finish(_start(killed_cfg, tmp_path / "killed.yaml"))
    assert code == 0, out
    _assert_same(tmp_path / "reference", tmp_path / "killed")

    # SIGUSR1 under SLURM: checkpoint mid-epoch, requeue, distinct exit status; one worker process this time
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'scontrol.log'}\n")
    (bin_dir / "scontrol").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242"}
    pre_cfg = {**base, "run_dir": str(tmp_path / "preempted"), "num_workers": 1}
    proc = _start(pre_cfg, tmp_path / "preempted.yaml", env)
    for line in proc.stdout:  # the stage-start log line comes just before the first training step
        if "stage 1/3 'binary'" in line:
            break
    proc.send_signal(signal.SIGUSR1)
    code, out = _finish(proc)
    assert code == PREEMPTED_EXIT_CODE, out
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
    ckpt = torch.load(tmp_path / "preempted" / "checkpoints" / "stage1_last.pt", weights_only=True)
    assert ckpt["epoch"] == 0 and 1 <= ckpt["step_in_epoch"] < 3, "expected a checkpoint inside the first epoch"
    assert read_run_info(tmp_path / "preempted")["preempted"]
    code, out = _finish(_start(pre_cfg, tmp_path / "preempted.yaml"))
    assert code == 0, out
    _assert_same(tmp_path / "reference", tmp_path / "preempted")
