"""benchmarks/gpu_check.py at tiny size on the CPU: every measurement of the GPU check runs and is recorded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_gpu_check_runs_quick_on_the_cpu(tmp_path: Path) -> None:
    from benchmarks import gpu_check

    out = tmp_path / "gpu.json"
    result = gpu_check.main(["--device", "cpu", "--quick", "--out", str(out)])
    assert json.loads(out.read_text())["encoders"].keys() == result["encoders"].keys() == {"resnet10t"}
    rows = result["encoders"]["resnet10t"]
    assert rows["eager"]["images_per_s"] > 0 and rows["channels_last"]["precision"] == "fp32"
    assert rows["eval"]["images_per_s"] > 0 and result["loader"]["items_per_s"] > 0
    assert result["smoke"]["ok"], result["smoke"]
