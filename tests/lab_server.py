"""`make lab`'s server for the tests: started as `make lab` starts it, stopped with every process it started.

``running_lab(folder)`` runs ``python -m heritage_core.suite.lab`` (the command behind ``make lab``) on 127.0.0.1,
a free port and a token, with Jupyter's user folders (settings, workspaces, runtime files, the notebook
signing key) under ``folder`` so that the test neither reads nor writes the user's. It yields a
:class:`LabServer` once the REST API answers. On exit it stops the server (which shuts its kernels down)
and then ends whatever is left of the processes it started: the server, and every process whose command
line names ``folder`` (the kernels, by their connection files under ``folder/runtime``).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heritage_core.suite.lab import PROJECT_ROOT

#: Seconds the server gets to answer its REST API, and to stop after SIGTERM.
START_S = 90
STOP_S = 30


@dataclass(frozen=True)
class LabServer:
    """A running server: its base URL, token, process and the folder of its user files and log."""

    url: str
    token: str
    process: subprocess.Popen
    folder: Path

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """JSON reply of the REST endpoint ``path`` (e.g. ``api/sessions``)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/{path}", data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            text = reply.read()
        return json.loads(text) if text else None

    @property
    def log(self) -> str:
        """What the server printed so far."""
        return (self.folder / "server.log").read_text(errors="replace")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_naming(marker: str) -> list[int]:
    """Ids of the processes (other than this one) whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def end_processes(pids: list[int], grace_s: float = 10.0) -> None:
    """SIGTERM each process, then SIGKILL those still there after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while (pids := [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]) and \
                time.monotonic() < deadline:
            time.sleep(0.2)


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] == "Z"
    return True


@contextlib.contextmanager
def running_lab(folder: Path, token: str = "heritage-test-token") -> Iterator[LabServer]:
    """Run ``python -m heritage_core.suite.lab --no-browser`` on a free loopback port (module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(folder / "config"), JUPYTER_DATA_DIR=str(folder / "data"),
               JUPYTER_RUNTIME_DIR=str(folder / "runtime"))
    command = [sys.executable, "-m", "heritage_core.suite.lab", "--port", str(port), "--token", token, "--no-browser",
               "--ServerApp.port_retries=0"]
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LabServer(f"http://127.0.0.1:{port}", token, process, folder)
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                server.api("api/status")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not start (exit {process.poll()}):\n{server.log}") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        end_processes(processes_naming(str(folder)))
