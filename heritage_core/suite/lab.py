"""JupyterLab for the project (``make lab`` = ``python -m heritage_core.suite.lab``), read-only in effect.

What a user meets, and the setting behind it:

* **Kernels start in the project root**, as under papermill. The notebooks' parameters are paths relative to
  the project root (``suites/demo/...``) and ``heritage suite run`` executes them with papermill's ``cwd`` set
  to that root; JupyterLab would start a kernel in ``notebooks/``, where those paths do not exist. The server
  therefore runs with ``--ServerApp.kernel_manager_class=heritage_core.suite.lab.ProjectRootKernelManager``.
* **Opening a notebook changes nothing.** When a kernel starts, JupyterLab writes its kernelspec and
  ``language_info`` into the notebook's metadata and marks the notebook modified if they differ. The
  committed notebooks name the kernelspec ``python3`` / ``Python 3`` (:data:`KERNELSPEC`, checked by
  ``tests/test_notebook_pairing.py``); :func:`install_kernelspec` registers the venv's interpreter under
  exactly that name and display name inside the venv, and the venv comes first on ``JUPYTER_PATH``, so no
  user-level ``python3`` kernel can shadow it. The committed notebooks carry no ``language_info`` (it holds
  the Python version of a machine); :class:`ProjectContentsManager` serves a notebook without one with the
  kernel's, and leaves it out again when such a notebook is saved.
* **Running cells writes nothing.** Autosave is off (``configs/lab/overrides.json5``): outputs stay in the open
  document, and only an explicit save (Ctrl-S) writes the ``.ipynb`` and, through jupytext, its ``.py`` twin.
* **No network pop-ups.** The same settings file turns off JupyterLab's news feed question and update check,
  and ``--LabApp.news_url=None`` stops the server from fetching the feed.
* **Loopback only, with a token.** The server listens on 127.0.0.1; ``--token`` sets
  ``IdentityProvider.token`` (without it, Jupyter generates one and prints the URL that carries it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipykernel.ipkernel import IPythonKernel
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

__all__ = [
    "KERNELSPEC",
    "PROJECT_ROOT",
    "SETTINGS_DIR",
    "ProjectContentsManager",
    "ProjectRootKernelManager",
    "install_kernelspec",
    "lab_command",
    "lab_environment",
    "main",
]

#: The kernelspec every committed notebook names (``metadata.kernelspec``).
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
#: The project root: the server's root folder and every kernel's working folder.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: JupyterLab's application settings folder for the project (``overrides.json5``: autosave off, no news).
SETTINGS_DIR = Path(__file__).resolve().parents[1] / "configs" / "lab"


class ProjectRootKernelManager(AsyncMappingKernelManager):
    """A kernel manager that starts every kernel in the server's ``root_dir`` (the project root)."""

    def cwd_for_path(self, path: str, **kwargs: Any) -> str:
        """The folder a kernel for the notebook at API path ``path`` starts in: always ``root_dir``."""
        return str(self.root_dir)


class ProjectContentsManager(build_async_jupytext_contents_manager_class(AsyncLargeFileManager)):
    """Jupytext's contents manager (a ``.ipynb`` and its paired ``.py`` read and saved together) that keeps the
    kernel's ``language_info`` out of notebooks that have none (module docstring).

    The kernel is this interpreter (:func:`install_kernelspec`), so ipykernel's ``language_info`` here is the
    one the kernel reports.
    """

    async def get(self, path: str, content: bool = True, type: str | None = None, format: str | None = None,
                  **kwargs: Any) -> dict[str, Any]:
        """The model of ``path``; a notebook without ``language_info`` gets the kernel's."""
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if content and model["type"] == "notebook":
            model["content"]["metadata"].setdefault("language_info", IPythonKernel.language_info)
        return model

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        """Save ``model`` to ``path``, without the kernel's ``language_info`` when the file on disk has none."""
        metadata = model.get("content", {}).get("metadata", {}) if model.get("type") == "notebook" else {}
        if metadata.get("language_info") == IPythonKernel.language_info and not self._has_language_info(path):
            content = dict(model["content"], metadata={k: v for k, v in metadata.items() if k != "language_info"})
            model = dict(model, content=content)
        return await super().save(model, path)

    def _has_language_info(self, path: str) -> bool:
        """Whether the notebook file at API path ``path`` exists and names a ``language_info``."""
        os_path = Path(self._get_os_path(path.strip("/")))
        try:
            return "language_info" in json.loads(os_path.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError):
            return False


def install_kernelspec(prefix: str | Path = sys.prefix) -> Path:
    """Register this interpreter as the :data:`KERNELSPEC` kernel under ``prefix`` (the venv), replacing the
    ``Python 3 (ipykernel)`` spec that pip installs there.

    Returns:
        The kernelspec folder, ``<prefix>/share/jupyter/kernels/python3``.
    """
    from ipykernel.kernelspec import install

    return Path(install(kernel_name=KERNELSPEC["name"], display_name=KERNELSPEC["display_name"], prefix=str(prefix)))


def lab_environment(prefix: str | Path = sys.prefix, environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with ``<prefix>/share/jupyter`` first on ``JUPYTER_PATH``."""
    env = dict(os.environ if environ is None else environ)
    first = str(Path(prefix) / "share" / "jupyter")
    env["JUPYTER_PATH"] = os.pathsep.join([first, *[p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]])
    return env


def lab_command(*, port: int, token: str | None = None, extra_args: Sequence[str] = ()) -> list[str]:
    """The ``jupyter lab`` command line of the project's server (module docstring).

    Args:
        port: TCP port on 127.0.0.1 (Jupyter tries the next ones when it is taken).
        token: the access token; None lets Jupyter generate one.
        extra_args: further ``jupyter lab`` arguments, e.g. ``["--no-browser"]``.

    Returns:
        The argument list, starting with this interpreter.
    """
    command = [
        sys.executable, "-m", "jupyter", "lab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        f"--ServerApp.root_dir={PROJECT_ROOT}", "--ContentsManager.preferred_dir=notebooks",
        "--ServerApp.kernel_manager_class=heritage_core.suite.lab.ProjectRootKernelManager",
        "--ServerApp.contents_manager_class=heritage_core.suite.lab.ProjectContentsManager",
        f"--LabApp.app_settings_dir={SETTINGS_DIR}", "--LabApp.news_url=None",
    ]
    if token is not None:
        command.append(f"--IdentityProvider.token={token}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # Jupyter refuses to run as root unless told; containers often run as root
    return command + list(extra_args)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m heritage_core.suite.lab [--port N] [--token T] [JUPYTER LAB ARGS...]``: register the kernelspec,
    then replace this process with the project's ``jupyter lab`` server."""
    parser = argparse.ArgumentParser(prog="python -m heritage_core.suite.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (default: 8888)")
    parser.add_argument("--token", default=None, help="access token (default: one generated by Jupyter)")
    args, extra = parser.parse_known_args(argv)
    install_kernelspec()
    command = lab_command(port=args.port, token=args.token, extra_args=extra)
    os.execve(command[0], command, lab_environment())


if __name__ == "__main__":
    main()
