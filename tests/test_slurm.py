"""SLURM scripts and submission: hand-checked script text, and a real one-node cluster (scripts/slurm_local.sh).

The cluster tests submit the smoke profile cut to one run (the real notebooks) and, for the failure path, a stub
suite (tests/suite_stubs.py: notebooks that only write what the real ones would) whose flat run fails. They
are skipped, with the reason, when slurm-wlm and munge cannot be installed or started here (exit status 3 of
scripts/slurm_local.sh).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heritage_core.suite import slurm
from heritage_core.suite import runner as suite
from heritage_core.errors import ConfigError, SuiteError
from heritage_core.suite.plan import plan_suite, step_state
from heritage_core.suite.profiles import load_profile, profile_from_dict
from heritage_core.runs import read_json
from suite_stubs import FAIL_ENV, write_stub_notebooks

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_PROFILE = {
    "name": "slurmy",
    "grid": {"variants": ["flat", "curriculum"], "encoders": ["convnext_atto"], "seeds": [0]},
    "splits": {"folds": ["line_art"]},
    "train": {"init": "random"},
    "resources": {"time": "00:05:00", "prepare_time": "00:05:00", "report_time": "00:05:00", "cpus_per_task": 1,
                  "mem": "1G", "gpus_per_task": 1},
}


def test_array_spec_compresses_runs_and_throttles() -> None:
    assert slurm.array_spec([0, 1, 2, 3, 7, 9, 10], 4) == "0-3,7,9-10%4"
    assert slurm.array_spec([5]) == "5"
    assert slurm.array_spec([3, 1, 2]) == "1-3"
    with pytest.raises(SuiteError, match="nothing to resume"):
        slurm.array_spec([])


def test_job_script_renders_requeue_signal_and_gpus_only_when_asked() -> None:
    job = slurm.JobScript(job_name="s-runs", command="python -m x", workdir="/p r", log="/l/%A_%a.out",
                          time="01:00:00", cpus_per_task=4, mem="8G", gpus_per_task=2, partition="gpu",
                          array="0-3%2", requeue=True)
    text = job.render()
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    for opt in ("--job-name=s-runs", "--time=01:00:00", "--cpus-per-task=4", "--mem=8G", "--partition=gpu",
                "--gpus-per-task=2", "--array=0-3%2", "--requeue", "--signal=B:USR1@120", "--output=/l/%A_%a.out"):
        assert f"#SBATCH {opt}" in lines
    assert "cd '/p r'" in lines and lines[-1] == "exec python -m x"
    assert "export NO_ALBUMENTATIONS_UPDATE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1" in lines
    assert not any("HF_HUB_OFFLINE" in line for line in lines)  # never forced offline: the user's setting holds
    cpu = slurm.JobScript(job_name="s", command="c", workdir="/", log="l", time="00:10:00", cpus_per_task=1,
                          mem="1G", kill_on_invalid_dep=True).render()
    assert "gpus" not in cpu and "--requeue" not in cpu and "--array" not in cpu and "--partition" not in cpu
    assert "#SBATCH --kill-on-invalid-dep=yes" in cpu.splitlines()


def test_submit_dry_run_prints_three_chained_scripts_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = profile_from_dict(CLUSTER_PROFILE)
    plan = plan_suite(profile, root=tmp_path)
    notebooks = write_stub_notebooks(tmp_path / "nb", plan)
    report = suite.submit_suite(profile, dry_run=True, gpus_per_task=0, partition="cpu", time_limit="00:30:00",
                                root=tmp_path, notebooks_dir=notebooks)
    out = capsys.readouterr().out
    scripts = {block.split("\n", 1)[0].strip(): block for block in out.split("# ---- ")[1:]}
    suite_dir = tmp_path / "suites" / "slurmy"
    names = [Path(k).name for k in scripts]
    assert names == ["01_splits.sbatch", "train_eval.sbatch", "report.sbatch"]
    splits, array, final = scripts.values()
    assert f"--suite-dir {suite_dir} --step 01_splits" in splits and "--array" not in splits
    assert "#SBATCH --array=0-1" in array and "#SBATCH --requeue" in array and "#SBATCH --signal=B:USR1@120" in array
    assert "#SBATCH --time=00:30:00" in array and "#SBATCH --partition=cpu" in array and "gpus" not in array
    assert f'--suite-dir {suite_dir} --index "$SLURM_ARRAY_TASK_ID"' in array
    assert "--step 04_dg_gap --step 05_paper_figures" in final and "#SBATCH --kill-on-invalid-dep=yes" in final
    assert "# submit: sbatch --parsable '--dependency=afterok:<01_splits job>'" in array
    assert "# submit: sbatch --parsable '--dependency=afterok:<train_eval job>'" in final
    assert {r.status for r in report.results} == {"planned"} and len(report.results) == 7
    assert not (tmp_path / "suites").exists()
    gpu_out = suite.submit_suite(profile, dry_run=True, root=tmp_path, notebooks_dir=notebooks)
    assert gpu_out.jobs and "#SBATCH --gpus-per-task=1" in capsys.readouterr().out


def test_submit_rejects_bad_options(tmp_path: Path) -> None:
    profile = profile_from_dict(CLUSTER_PROFILE)
    with pytest.raises(ConfigError, match="--time"):
        suite.submit_suite(profile, dry_run=True, time_limit="90 minutes", root=tmp_path)
    with pytest.raises(ConfigError, match="--backend 'pbs'"):
        suite.submit_suite(profile, backend="pbs", dry_run=True, root=tmp_path)


# --------------------------------------------------------------------------- a real one-node cluster
@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[str]:
    """A one-node SLURM cluster on localhost; yields its SLURM_CONF (skips when slurm cannot run here).

    Its folder is a fresh ``/tmp/heritage-slurm-*`` opened to other users (mode 755): munged runs as the
    ``munge`` user and must reach its key and socket, which pytest's private ``tmp_path`` (mode 700) forbids.
    """
    folder = Path(tempfile.mkdtemp(prefix="heritage-slurm-"))
    folder.chmod(0o755)
    script = ROOT / "scripts" / "slurm_local.sh"
    up = subprocess.run(["bash", str(script), "up", str(folder)], capture_output=True, text=True, timeout=120)
    if up.returncode == 3:
        pytest.skip(f"slurm cannot be installed or started here: {up.stderr.strip()}")
    assert up.returncode == 0, up.stderr
    conf = up.stdout.strip().split("=", 1)[1]
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        subprocess.run(["bash", str(script), "down", str(folder)], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous


def _wait_for(jobs: dict[str, str], timeout_s: float = 150) -> None:
    deadline = time.monotonic() + timeout_s
    while slurm.queue_states(list(jobs.values())):
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs {jobs} still queued after {timeout_s} s: {slurm.queue_states(list(jobs.values()))}")
        time.sleep(0.5)


def _job_state(job: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, check=True).stdout
    return dict(tok.split("=", 1) for tok in out.split() if "=" in tok)


@pytest.mark.slow
def test_slurm_runs_the_smoke_suite_array_after_splits_report_after_array(slurm_cluster: str, tmp_path: Path) -> None:
    """The real notebooks through sbatch: the smoke profile cut to one run (01 job, a 1-task array, report job)."""
    raw = load_profile("smoke").to_dict()
    raw["name"], raw["grid"]["variants"] = "slurmsmoke", ["curriculum"]
    raw["report"]["compare"] = ["curriculum"]
    profile = profile_from_dict(raw)
    plan = plan_suite(profile, root=tmp_path)
    report = suite.submit_suite(profile, backend="slurm", gpus_per_task=0, root=tmp_path)
    assert set(report.jobs) == {"01_splits", "train_eval", "report"}
    _wait_for(report.jobs, timeout_s=300)
    records = {s.key: read_json(plan.record_path(s)) for s in plan.steps}
    assert {k: r["status"] for k, r in records.items()} == {s.key: "finished" for s in plan.steps}
    splits = records["01_splits"]
    assert splits["slurm_job_id"] == report.jobs["01_splits"]
    for step in plan.steps:
        if step.cell is not None:  # ran as array task <cell>, after 01 finished
            rec = records[step.key]
            assert rec["slurm_array_task_id"] == str(step.cell) and rec["started"] > splits["finished"]
    last_eval = max(records[s.key]["finished"] for s in plan.steps if s.notebook == "03_evaluate")
    assert records["04_dg_gap"]["started"] > last_eval
    assert records["04_dg_gap"]["slurm_job_id"] == report.jobs["report"]
    run = tmp_path / "suites" / "slurmsmoke" / "runs" / "photographic_depiction" / "curriculum" / "convnext_atto" / "seed0"
    assert read_json(run / "run.json")["status"] == "finished" and (run / "eval" / "metrics.json").is_file()
    assert (tmp_path / "suites" / "slurmsmoke" / "results" / "results.csv").is_file()
    assert (tmp_path / "paper" / "generated" / "slurmsmoke" / "numbers.tex").is_file()
    assert read_json(plan.suite_dir / "slurm" / "submit.json")["jobs"] == report.jobs
    assert _job_state(report.jobs["report"])["JobState"] == "COMPLETED"
    logs = sorted(p.name for p in (plan.suite_dir / "slurm" / "logs").iterdir())
    assert logs == sorted([f"01_splits_{report.jobs['01_splits']}.out", f"report_{report.jobs['report']}.out",
                           f"train_eval_{report.jobs['train_eval']}_0.out"])
    rows = suite.suite_status(plan.suite_dir)
    assert {r["state"] for r in rows} == {"finished"} and rows[1]["run_status"] == "finished"


@pytest.mark.slow
def test_slurm_failed_array_task_cancels_the_report_job(slurm_cluster: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    profile = profile_from_dict({**CLUSTER_PROFILE, "name": "slurmfail"})
    plan = plan_suite(profile, root=tmp_path)
    notebooks = write_stub_notebooks(tmp_path / "nb", plan)
    monkeypatch.setenv(FAIL_ENV, "/flat/")  # sbatch exports the environment: array task 0 (flat) fails
    report = suite.submit_suite(profile, gpus_per_task=0, root=tmp_path, notebooks_dir=notebooks)
    _wait_for(report.jobs)
    array = report.jobs["train_eval"]
    assert _job_state(f"{array}_0")["JobState"] == "FAILED"
    assert _job_state(f"{array}_1")["JobState"] == "COMPLETED"
    final = _job_state(report.jobs["report"])
    assert final["JobState"] == "CANCELLED" and final["Reason"] == "DependencyNeverSatisfied"
    states = {s.key: step_state(plan, s) for s in plan.steps}
    assert states["line_art/flat/convnext_atto/seed0/02_train_curriculum"] == "failed"
    assert states["line_art/flat/convnext_atto/seed0/03_evaluate"] == "pending"
    assert states["line_art/curriculum/convnext_atto/seed0/03_evaluate"] == "finished"
    assert states["04_dg_gap"] == "pending" and not (tmp_path / "paper").exists()
    # resubmitting with --resume sends only the failed cell, then the report
    monkeypatch.delenv(FAIL_ENV)
    again = suite.submit_suite(profile, gpus_per_task=0, resume=True, root=tmp_path, notebooks_dir=notebooks)
    assert set(again.jobs) == {"train_eval", "report"}
    assert "#SBATCH --array=0\n" in (plan.suite_dir / "slurm" / "train_eval.sbatch").read_text()
    _wait_for(again.jobs)
    assert all(step_state(plan, s) == "finished" for s in plan.steps)
