"""The suite runner: plan, dependency order, records, resume, failure propagation, parallel steps, status,
the command line and the real notebooks end to end on the smoke profile.

Most tests run stub notebooks (tests/suite_stubs.py) that write what the real ones write in a fraction of a
second, so they check the runner's logic; test_smoke_profile_runs_the_real_notebooks runs notebooks 01-05.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from heritage_core.suite import launchers
from heritage_core.suite import runner as suite
from heritage_core.errors import ConfigError, SuiteError
from heritage_core.suite.plan import Step, SuitePlan, check_notebooks, load_plan, plan_suite, step_state
from heritage_core.suite.profiles import load_profile, profile_from_dict
from heritage_core.runs import read_json
from suite_stubs import FAIL_ENV, executions, write_stub_notebooks

ROOT = Path(__file__).resolve().parents[1]
PROFILE = {"name": "t", "grid": {"variants": ["flat", "curriculum"], "encoders": ["convnext_atto"]},
           "splits": {"folds": ["line_art"]}, "train": {"init": "random"}}
CELLS = ["line_art/flat/convnext_atto/seed0", "line_art/curriculum/convnext_atto/seed0"]
KEYS = ["01_splits", f"{CELLS[0]}/02_train_curriculum", f"{CELLS[0]}/03_evaluate",
        f"{CELLS[1]}/02_train_curriculum", f"{CELLS[1]}/03_evaluate", "04_dg_gap", "05_paper_figures"]


@pytest.fixture()
def stubbed(tmp_path: Path) -> tuple[SuitePlan, Path]:
    """A plan of PROFILE under tmp_path and a folder of stub notebooks for it."""
    plan = plan_suite(profile_from_dict(PROFILE), root=tmp_path)
    return plan, write_stub_notebooks(tmp_path / "nb", plan)


def _run(plan: SuitePlan, notebooks: Path, **kwargs: object) -> launchers.SuiteReport:
    return suite.run_suite(plan.profile, root=plan.root, notebooks_dir=notebooks, progress=False, **kwargs)


def _statuses(report: launchers.SuiteReport) -> dict[str, str]:
    return {r.key: r.status for r in report.results}


def test_plan_expands_the_grid_with_dependencies_and_root_relative_parameters(tmp_path: Path) -> None:
    profile = profile_from_dict({**PROFILE, "splits": {"folds": ["line_art"], "seeds": [4]},
                                 "train": {"pretrained": {"convnext_atto": "w/atto.safetensors"}}})
    plan = plan_suite(profile, name="other", root=tmp_path)
    assert [s.key for s in plan.steps] == KEYS and plan.name == "other"
    train = plan.step(KEYS[3])
    assert train.depends == ("01_splits",) and train.cell == 1
    assert train.parameters["manifest_path"] == "suites/other/splits/locontent_seed4_line_art.json"
    assert train.parameters["run_dir"] == f"suites/other/runs/{CELLS[1]}"
    assert train.parameters["cache_dir"] == "suites/other/cache" and train.parameters["variant"] == "curriculum"
    assert train.parameters["pretrained"] == "w/atto.safetensors" and train.parameters["device"] == "cpu"
    assert plan.step(KEYS[4]).depends == (KEYS[3],)
    assert plan.step("04_dg_gap").depends == (KEYS[2], KEYS[4])
    assert plan.step("05_paper_figures").parameters["compare"] == ["flat", "curriculum"]
    splits = plan.step("01_splits").parameters
    assert splits["source_dir"] == "suites/other/data" and splits["synthetic_n"] == 418 and splits["seeds"] == [4]
    assert plan.output_path(train) == tmp_path / "papermill_runs" / "other" / f"{KEYS[3]}.ipynb"
    # the hash ignores where a step runs (device), not what it computes
    moved = Step(train.key, train.notebook, {**train.parameters, "device": "cuda"})
    assert moved.params_hash == train.params_hash
    assert Step(train.key, train.notebook, {**train.parameters, "seed": 9}).params_hash != train.params_hash
    film = plan_suite(load_profile("film"), root=tmp_path)
    assert [(s.key, s.parameters["output_dir"]) for s in film.steps] == [("06_film_real", "suites/film/film")]


def test_run_executes_in_dependency_order_and_writes_the_layout(stubbed: tuple[SuitePlan, Path]) -> None:
    plan, notebooks = stubbed
    report = _run(plan, notebooks)
    assert report.ok and list(_statuses(report).values()) == ["finished"] * 7
    assert executions(plan.root) == ["01_splits", f"{CELLS[0]} 02", f"{CELLS[0]} 03", f"{CELLS[1]} 02",
                                     f"{CELLS[1]} 03", "04_dg_gap", "05_paper_figures"]
    for step in plan.steps:
        record = read_json(plan.record_path(step))
        assert record["status"] == "finished" and record["params_hash"] == step.params_hash
        assert record["kernel_start_s"] > 0 and record["duration_s"] >= record["kernel_start_s"]
        executed = nbformat.read(str(plan.output_path(step)), as_version=4)
        assert executed.metadata.papermill["parameters"] == json.loads(json.dumps(step.parameters))
    assert (plan.suite_dir / "profile.yaml").is_file() and read_json(plan.suite_dir / "plan.json")["name"] == "t"
    assert load_plan(plan.suite_dir).steps == plan.steps
    table = report.table()
    assert table.splitlines()[0].split() == ["step", "status", "duration", "note"]
    assert table.splitlines()[-1].startswith("suite 't': 7 finished;")


def test_failure_skips_dependents_and_resume_reruns_only_what_is_needed(
        stubbed: tuple[SuitePlan, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    plan, notebooks = stubbed
    monkeypatch.setenv(FAIL_ENV, "/flat/")
    report = _run(plan, notebooks)
    assert not report.ok
    assert _statuses(report) == {KEYS[0]: "finished", KEYS[1]: "failed", KEYS[2]: "skipped", KEYS[3]: "finished",
                                 KEYS[4]: "finished", KEYS[5]: "skipped", KEYS[6]: "skipped"}
    notes = {r.key: r.note for r in report.results}
    assert notes[KEYS[1]].startswith("RuntimeError: deliberate failure of suites/t/runs/line_art/flat")
    assert notes[KEYS[2]] == f"after failed {KEYS[1]}" and notes[KEYS[5]] == f"after skipped {KEYS[2]}"
    failed = nbformat.read(str(plan.output_path(plan.step(KEYS[1]))), as_version=4)  # papermill's error banner
    assert any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in failed.cells)
    assert step_state(plan, plan.step(KEYS[1])) == "failed"

    monkeypatch.delenv(FAIL_ENV)
    (plan.root / "executions.log").unlink()
    report = _run(plan, notebooks, resume=True)
    assert report.ok
    assert _statuses(report) == {KEYS[0]: "up-to-date", KEYS[1]: "finished", KEYS[2]: "finished",
                                 KEYS[3]: "up-to-date", KEYS[4]: "up-to-date", KEYS[5]: "finished",
                                 KEYS[6]: "finished"}
    assert executions(plan.root) == [f"{CELLS[0]} 02", f"{CELLS[0]} 03", "04_dg_gap", "05_paper_figures"]

    # a lost run dir makes its steps incomplete; re-running them makes 04 and 05 outdated, so they run too
    (plan.root / f"suites/t/runs/{CELLS[1]}/run.json").unlink()
    assert step_state(plan, plan.step(KEYS[3])) == "incomplete"
    (plan.root / "executions.log").unlink()
    assert _statuses(_run(plan, notebooks, resume=True))[KEYS[5]] == "finished"
    assert executions(plan.root) == [f"{CELLS[1]} 02", f"{CELLS[1]} 03", "04_dg_gap", "05_paper_figures"]
    (plan.root / "executions.log").unlink()
    assert set(_statuses(_run(plan, notebooks, resume=True)).values()) == {"up-to-date"}
    assert executions(plan.root) == []


def test_parallel_jobs_respect_dependencies(stubbed: tuple[SuitePlan, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    plan, notebooks = stubbed
    monkeypatch.setenv(FAIL_ENV, "/flat/")
    report = _run(plan, notebooks, jobs=2, only=["01", "02", "03"])
    assert [r.key for r in report.results] == KEYS[:5]  # rows in plan order whatever finished first
    assert _statuses(report)[KEYS[1]] == "failed" and _statuses(report)[KEYS[2]] == "skipped"
    assert _statuses(report)[KEYS[4]] == "finished"
    log = (plan.root / "executions.log").read_text().splitlines()
    at = {line.split(" ", 1)[1].split("/runs/")[-1]: float(line.split()[0]) for line in log}
    assert at["01_splits"] < at[f"{CELLS[1]} 02"] < at[f"{CELLS[1]} 03"]
    assert plan.record_path(plan.step(KEYS[1])).with_suffix(".log").is_file()  # the child's stderr
    with pytest.raises(ConfigError, match="jobs is 0"):
        _run(plan, notebooks, jobs=0)


def test_runner_processes_import_papermill_without_the_iri_grammars() -> None:
    # jsonschema's optional rfc3987_syntax builds grammars at import (1.7 s a task process); nbformat checks no format
    code = (
        "import sys\n"
        "from heritage_core.suite import runner\n"
        "assert 'jsonschema' not in sys.modules\n"
        "try:\n    runner.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "import nbformat, papermill\n"
        "nbformat.validate(nbformat.v4.new_notebook())\n"
        "print(repr(sys.modules.get('rfc3987_syntax', 'absent')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "None"


def test_parallel_slots_take_every_training_before_any_evaluation(tmp_path: Path) -> None:
    steps = plan_suite(load_profile(ROOT / "parameters" / "demo.yaml"), root=tmp_path).steps
    ordered = launchers.dispatch_order(steps)
    order = [s.notebook for s in ordered]
    assert order == ["01_splits"] + ["02_train_curriculum"] * 8 + ["03_evaluate"] * 8 + ["04_dg_gap", "05_paper_figures"]
    trainings = [s.key for s in steps if s.notebook == "02_train_curriculum"]
    assert [s.key for s in ordered if s.notebook == "02_train_curriculum"] == trainings
    # the count is over every step after a step, not its direct dependents only, and needs no plan order
    chain = [Step("c", "05_paper_figures", {}, ("b",)), Step("b", "04_dg_gap", {}, ("a",)), Step("a", "01_splits", {}),
             Step("x", "03_evaluate", {}, ("a",)), Step("y", "03_evaluate", {}, ("a",))]
    assert [s.key for s in launchers.dispatch_order(chain)] == ["a", "b", "c", "x", "y"]


def test_only_runs_the_named_steps_and_skips_those_whose_dependencies_are_missing(
        stubbed: tuple[SuitePlan, Path]) -> None:
    plan, notebooks = stubbed
    report = _run(plan, notebooks, only=["02"])
    assert _statuses(report) == {KEYS[1]: "skipped", KEYS[3]: "skipped"}
    assert report.results[0].note == "needs 01_splits (pending)" and executions(plan.root) == []
    _run(plan, notebooks, only=["01"])
    (plan.root / "executions.log").unlink()
    report = _run(plan, notebooks, only=["line_art/curriculum/*", "04_dg_gap"])
    assert _statuses(report) == {KEYS[3]: "finished", KEYS[4]: "finished", KEYS[5]: "skipped"}
    assert report.results[-1].note == f"needs {KEYS[2]} (pending)"
    assert executions(plan.root) == [f"{CELLS[1]} 02", f"{CELLS[1]} 03"]
    with pytest.raises(SuiteError, match="--only 'line_art/bogus' selects no step"):
        _run(plan, notebooks, only=["line_art/bogus"])


def test_a_suite_keeps_its_profile(stubbed: tuple[SuitePlan, Path]) -> None:
    plan, notebooks = stubbed
    _run(plan, notebooks, only=["01"])
    changed = profile_from_dict({**PROFILE, "train": {**PROFILE["train"], "img_size": 256}})
    with pytest.raises(SuiteError, match=r"made from another profile \(changed: \['train.img_size'\]\)"):
        suite.run_suite(changed, root=plan.root, notebooks_dir=notebooks, progress=False)
    other = suite.run_suite(changed, name="t2", root=plan.root, notebooks_dir=notebooks, progress=False, only=["01"])
    assert other.ok and (plan.root / "suites" / "t2" / "profile.yaml").is_file()


def test_notebooks_must_declare_every_parameter(tmp_path: Path) -> None:
    plan = plan_suite(profile_from_dict(PROFILE), root=tmp_path)
    notebooks = write_stub_notebooks(tmp_path / "nb", plan, drop={"03_evaluate": "score_cache"})
    with pytest.raises(SuiteError, match=r"03_evaluate.ipynb' does not declare the parameter\(s\) \['score_cache'\]"):
        suite.run_suite(plan.profile, root=tmp_path, notebooks_dir=notebooks)
    write_stub_notebooks(notebooks, plan)
    (notebooks / "04_dg_gap.ipynb").unlink()
    with pytest.raises(SuiteError, match="04_dg_gap.ipynb' does not exist"):
        check_notebooks(plan_suite(plan.profile, root=tmp_path, notebooks_dir=notebooks))


def test_missing_inputs_are_named_before_anything_runs(tmp_path: Path) -> None:
    profile = profile_from_dict({**PROFILE, "dataset": {"source": "data/artefact"},
                                 "train": {"pretrained": {"convnext_atto": "weights/atto.safetensors"}},
                                 "film": {"film_dir": "scans"}})
    with pytest.raises(SuiteError) as err:
        suite.run_suite(profile, root=tmp_path, notebooks_dir=write_stub_notebooks(tmp_path / "nb",
                                                                                   plan_suite(profile, root=tmp_path)))
    assert ("dataset.source 'data/artefact', train.pretrained.convnext_atto 'weights/atto.safetensors', "
            "film.film_dir 'scans' (no metadata.csv) not found under the project root") in str(err.value)
    assert not (tmp_path / "suites").exists()


def test_the_project_notebooks_declare_what_the_suite_passes(tmp_path: Path) -> None:
    for name in ("demo", "paper", "film"):
        check_notebooks(plan_suite(load_profile(name), root=tmp_path))


def test_command_line_run_status_task_and_dry_run(stubbed: tuple[SuitePlan, Path],
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    plan, notebooks = stubbed
    profile_file = plan.root / "t.yaml"
    profile_file.write_text(json.dumps(PROFILE))  # JSON is YAML
    common = ["--root", str(plan.root), "--notebooks", str(notebooks)]
    assert suite.main(["run", str(profile_file), "--dry-run", *common]) == 0
    out = capsys.readouterr().out
    assert f"task --suite-dir {plan.suite_dir} --step 01_splits" in out and not (plan.root / "suites").exists()
    monkeypatch.setenv(FAIL_ENV, "/flat/")
    assert suite.main(["run", str(profile_file), *common]) == 1  # a failed step: exit status 1
    assert "1 failed, 3 skipped" in capsys.readouterr().out
    assert suite.main(["status", "t", "--root", str(plan.root)]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows == {KEYS[0]: "finished", KEYS[1]: "failed", KEYS[2]: "pending", KEYS[3]: "finished",
                    KEYS[4]: "finished", KEYS[5]: "pending", KEYS[6]: "pending"}
    monkeypatch.delenv(FAIL_ENV)
    assert suite.main(["task", "--suite-dir", str(plan.suite_dir), "--index", "0", "--quiet"]) == 0
    assert step_state(plan, plan.step(KEYS[2])) == "finished"
    assert suite.main(["task", "--suite-dir", str(plan.suite_dir), "--index", "7"]) == 2
    assert "array index 7 is outside the grid of suite 't' (0..1)" in capsys.readouterr().err
    assert suite.main(["run", str(plan.root / "missing.yaml"), *common]) == 2


def test_sigusr1_reaches_the_training_kernel_only(tmp_path: Path) -> None:
    """SLURM's warning signal is passed to the kernel (its trainer checkpoints and requeues)."""
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ipykernel_launcher"])
    try:
        deadline = time.monotonic() + 10
        while kernel.pid not in launchers._kernel_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kernel.pid in launchers._kernel_pids()
        train = Step("k/02_train_curriculum", "02_train_curriculum", {})
        with launchers._preemption_forwarding(train):
            os.kill(os.getpid(), signal.SIGUSR1)
        assert kernel.wait(timeout=10) == -signal.SIGUSR1
    finally:
        kernel.kill()


@pytest.mark.slow
def test_smoke_profile_runs_the_real_notebooks(tmp_path: Path) -> None:
    """Notebooks 01-05 on the smoke profile (2 runs), then a resume that has nothing to do."""
    report = suite.run_suite("smoke", root=tmp_path, jobs=2, progress=False)
    assert report.ok, report.table()
    plan = plan_suite(load_profile("smoke"), root=tmp_path)
    suite_dir = tmp_path / "suites" / "smoke"
    assert (suite_dir / "splits" / "locontent_seed0_photographic_depiction.json").is_file()
    for variant in ("flat", "curriculum"):
        run = suite_dir / "runs" / "photographic_depiction" / variant / "convnext_atto" / "seed0"
        assert read_json(run / "run.json")["status"] == "finished"
        metrics = read_json(run / "eval" / "metrics.json")
        assert "ood_test" in json.dumps(metrics)
        assert (tmp_path / "papermill_runs" / "smoke" / "photographic_depiction" / variant / "convnext_atto" /
                "seed0" / "03_evaluate.ipynb").is_file()
    assert (suite_dir / "results" / "results.csv").is_file()
    assert (tmp_path / "paper" / "generated" / "smoke" / "numbers.tex").is_file()
    assert all(step_state(plan, s) == "finished" for s in plan.steps)
    again = suite.run_suite("smoke", root=tmp_path, resume=True, progress=False)
    assert {r.status for r in again.results} == {"up-to-date"}
