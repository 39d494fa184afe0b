"""`make lab` (heritage_core.suite.lab): the command, the settings, the contents manager and the running server.

The browser test of the same server is tests/test_lab_browser.py.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import json5
import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel

from heritage_core.suite import lab
from lab_server import processes_naming, running_lab

ROOT = Path(__file__).resolve().parents[1]


def test_make_lab_runs_the_project_server() -> None:
    dry = subprocess.run(["make", "-n", "-s", "lab", "LAB_PORT=8890", "LAB_ARGS=--no-browser"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "-m heritage_core.suite.lab --port 8890 --no-browser" in dry


def test_lab_command_listens_on_loopback_with_the_current_token_option() -> None:
    command = lab.lab_command(port=8890, token="t0k", extra_args=["--no-browser"])
    assert command[:4] == [sys.executable, "-m", "jupyter", "lab"] and command[-1] == "--no-browser"
    for option in ("--ServerApp.ip=127.0.0.1", "--ServerApp.port=8890", f"--ServerApp.root_dir={ROOT}",
                   "--ServerApp.kernel_manager_class=heritage_core.suite.lab.ProjectRootKernelManager",
                   "--ServerApp.contents_manager_class=heritage_core.suite.lab.ProjectContentsManager",
                   f"--LabApp.app_settings_dir={lab.SETTINGS_DIR}", "--LabApp.news_url=None",
                   "--IdentityProvider.token=t0k"):
        assert option in command
    assert not any(arg.startswith("--ServerApp.token") for arg in command)  # deprecated since jupyter_server 2
    assert not any("IdentityProvider.token" in arg for arg in lab.lab_command(port=8890))  # Jupyter generates one


def test_settings_turn_off_autosave_news_and_update_checks() -> None:
    overrides = json5.loads((lab.SETTINGS_DIR / "overrides.json5").read_text())
    assert overrides["@jupyterlab/docmanager-extension:plugin"] == {"autosave": False}
    assert overrides["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}


def test_lab_environment_puts_the_venv_first_on_jupyter_path(tmp_path: Path) -> None:
    env = lab.lab_environment(tmp_path, {"JUPYTER_PATH": "/opt/a", "HOME": "/h"})
    assert env["JUPYTER_PATH"].split(os.pathsep) == [str(tmp_path / "share" / "jupyter"), "/opt/a"]
    assert env["HOME"] == "/h"


def _contents_manager(root: Path) -> lab.ProjectContentsManager:
    return lab.ProjectContentsManager(root_dir=str(root))


def test_contents_manager_round_trip_leaves_the_notebook_and_its_twin_unchanged(tmp_path: Path) -> None:
    """Served with the kernel's language_info (so JupyterLab sees nothing to change) and saved without it: an
    opened and saved notebook and its jupytext twin keep every byte."""
    for suffix in (".ipynb", ".py"):
        shutil.copy2(ROOT / "notebooks" / f"04_dg_gap{suffix}", tmp_path / f"04_dg_gap{suffix}")
    before = {p.name: p.read_bytes() for p in tmp_path.glob("04_dg_gap.*")}
    manager = _contents_manager(tmp_path)
    model = asyncio.run(manager.get("04_dg_gap.ipynb", content=True, type="notebook"))
    assert model["content"]["metadata"]["language_info"] == IPythonKernel.language_info
    assert model["content"]["metadata"]["kernelspec"] == lab.KERNELSPEC
    asyncio.run(manager.save({"type": "notebook", "format": "json", "content": model["content"]}, "04_dg_gap.ipynb"))
    assert {p.name: p.read_bytes() for p in tmp_path.glob("04_dg_gap.*")} == before


def test_contents_manager_keeps_a_language_info_the_file_has(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(metadata={"language_info": IPythonKernel.language_info})
    nbformat.write(notebook, tmp_path / "own.ipynb")
    manager = _contents_manager(tmp_path)
    model = asyncio.run(manager.get("own.ipynb", content=True, type="notebook"))
    asyncio.run(manager.save({"type": "notebook", "format": "json", "content": model["content"]}, "new.ipynb"))
    asyncio.run(manager.save({"type": "notebook", "format": "json", "content": model["content"]}, "own.ipynb"))
    assert "language_info" not in nbformat.read(tmp_path / "new.ipynb", as_version=4).metadata
    assert nbformat.read(tmp_path / "own.ipynb", as_version=4).metadata.language_info == IPythonKernel.language_info


@pytest.mark.slow
def test_kernels_are_the_venvs_start_in_the_project_root_and_stop_with_the_server(tmp_path: Path) -> None:
    """The notebooks' python3 kernel is the venv's interpreter under the notebooks' display name, it starts in
    the project root (where papermill runs it), not in notebooks/, and it ends when the server stops."""
    with running_lab(tmp_path / "lab") as server:
        specs = server.api("api/kernelspecs")
        assert specs["default"] == "python3"
        assert specs["kernelspecs"]["python3"]["spec"]["display_name"] == lab.KERNELSPEC["display_name"]
        server.api("api/sessions", "POST", {"path": "notebooks/01_splits.ipynb", "type": "notebook", "name": "",
                                            "kernel": {"name": "python3"}})
        deadline = time.monotonic() + 30
        while not (kernels := processes_naming(str(tmp_path / "lab" / "runtime"))):
            assert time.monotonic() < deadline, f"no kernel started:\n{server.log}"
            time.sleep(0.2)
        argv0 = Path(os.fsdecode(Path(f"/proc/{kernels[0]}/cmdline").read_bytes().split(b"\0")[0]))
        assert argv0.parent == ROOT / ".venv" / "bin"
        assert Path(os.readlink(f"/proc/{kernels[0]}/cwd")) == ROOT
        assert server.process.poll() is None
    assert server.process.returncode is not None
    assert "Shutting down 1 kernel" in server.log and processes_naming(str(tmp_path / "lab")) == []
    listed = subprocess.run([str(ROOT / ".venv" / "bin" / "jupyter"), "labextension", "list"], capture_output=True,
                            text=True)
    widgets = [line for line in (listed.stdout + listed.stderr).splitlines() if "@jupyter-widgets/jupyterlab-manager" in line]
    assert widgets and "enabled" in widgets[0] and "OK" in widgets[0]
