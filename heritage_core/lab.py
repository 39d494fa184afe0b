"""JupyterLab for the project (``make lab``): every kernel starts in the project root, as under papermill.

The notebooks' parameters are paths relative to the project root (``cache/synthetic``, ``suites/demo/...``),
and ``heritage suite run`` executes them with papermill's ``cwd`` set to that root. JupyterLab would start a
kernel in the notebook's own folder (``notebooks/``), where those paths do not exist. ``make lab`` therefore
starts the server with ``--ServerApp.kernel_manager_class=heritage_core.lab.ProjectRootKernelManager``.
"""
from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

__all__ = ["ProjectRootKernelManager"]


class ProjectRootKernelManager(AsyncMappingKernelManager):
    """A kernel manager that starts every kernel in the server's ``root_dir`` (the project root)."""

    def cwd_for_path(self, path: str, **kwargs: Any) -> str:
        """The folder a kernel for the notebook at API path ``path`` starts in: always ``root_dir``."""
        return str(self.root_dir)
