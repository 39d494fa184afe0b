"""benchmarks/gpu_check.py at tiny size on the CPU: every measurement of the GPU check runs and is recorded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_gpu_check_runs_quick_on_the_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import gpu_check

    from heritage_core.suite import runner
    from heritage_core.suite.launchers import SuiteReport

    planned = {}

    def run_suite(profile, **kwargs):  # the smoke suite itself runs in test_suite; here only what is recorded
        planned.update(profile=profile, **kwargs)
        return SuiteReport(suite=profile.name)

    monkeypatch.setattr(runner, "run_suite", run_suite)
    out = tmp_path / "gpu.json"
    result = gpu_check.main(["--device", "cpu", "--quick", "--out", str(out)])
    assert planned["profile"].name == "gpu_check_smoke" and planned["profile"].device == "cpu"
    assert (planned["notebooks_dir"] / "02_train_curriculum.ipynb").is_file()
    assert json.loads(out.read_text())["encoders"].keys() == result["encoders"].keys() == {"resnet10t"}
    rows = result["encoders"]["resnet10t"]
    assert rows["eager"]["images_per_s"] > 0 and rows["channels_last"]["precision"] == "fp32"
    assert rows["eval"]["images_per_s"] > 0 and result["loader"]["items_per_s"] > 0
    assert result["smoke"] == {"ok": True, "seconds": result["smoke"]["seconds"], "steps": {}}
