"""Provenance and safe writes: atomic files and folders, parameter hashes, git commit, package versions.

Every artefact heritage_core writes (caches, manifests, run directories, evaluations, tables) goes
through :func:`atomic_write_text` / :func:`atomic_dir`, so a crash or a validation error leaves either
the previous version or nothing, never a half-written file.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from heritage_core.errors import ConfigError

__all__ = [
    "read_record",
    "read_yaml",
    "utc_timestamp",
    "quiet_environment",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_write_json",
    "FIGURE_DPI",
    "save_figure",
    "atomic_dir",
    "read_json",
    "hub_snapshot_revision",
    "sha256_file",
    "params_hash",
    "git_commit",
    "package_versions",
]


def utc_timestamp(timespec: str = "seconds") -> str:
    """The current time in UTC as ISO 8601, e.g. ``2026-12-02T13:54:15+00:00`` (``timespec`` as in
    :meth:`datetime.isoformat`: ``seconds`` for records, ``microseconds`` for step timings)."""
    return datetime.now(timezone.utc).isoformat(timespec=timespec)


def quiet_environment() -> None:
    """Turn off third-party update checks and telemetry (albumentations, Hugging Face), unless set already.

    Called where the package is imported for runs (CLI, notebooks). It never sets ``HF_HUB_OFFLINE``: whether the
    Hugging Face Hub may be reached (weights and dataset downloads) is the user's setting.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    The file gets the usual permissions (0666 less the umask), not ``mkstemp``'s private 0600, so results on a
    shared cluster file system stay readable by the group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


#: Resolution of every saved PNG figure, dots per inch (PDFs are vector).
FIGURE_DPI = 200


def save_figure(fig: Any, stem: str | Path, formats: Sequence[str] = ("pdf", "png")) -> dict[str, Path]:
    """Save a matplotlib figure as ``<stem>.<format>`` for each format, each atomically
    (:func:`atomic_write_bytes`), cropped to its content, PNGs at :data:`FIGURE_DPI`; the figure stays open.

    Args:
        fig: a matplotlib ``Figure``.
        stem: the path without extension.
        formats: ``pdf``, ``png`` or both.

    Returns:
        format -> path written.
    """
    stem = Path(stem)
    paths: dict[str, Path] = {}
    for fmt in formats:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=FIGURE_DPI, bbox_inches="tight", pad_inches=0.02,
                    metadata={"Creator": "heritage_core"} if fmt == "pdf" else None)
        paths[fmt] = atomic_write_bytes(stem.with_name(f"{stem.name}.{fmt}"), buffer.getvalue())
    return paths


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def read_record(path: str | Path, error: type[Exception], *, missing: str, invalid: str) -> Any:
    """Read a JSON file the suite wrote (a manifest, ``run.json``), as ``error`` when it is absent or unreadable.

    Args:
        path: the file.
        error: the exception class to raise (``ManifestError``, ``RunError``).
        missing: the message for a missing file.
        invalid: the message for a file that is not JSON; ``{exc}`` is replaced by the parser's message.
    """
    path = Path(path)
    if not path.is_file():
        raise error(missing)
    try:
        return read_json(path)
    except ValueError as exc:
        raise error(invalid.format(exc=exc)) from exc


def read_yaml(path: str | Path, what: str, hint: str = "") -> Any:
    """Read a YAML file a user wrote (profile, variants, taxonomy, training config).

    Args:
        path: the file.
        what: what the file is, for messages (``"profile"``, ``"variants file"``).
        hint: text appended to the message for a missing file (what to pass instead).

    Raises:
        ConfigError: the file is missing or is not YAML; the message names it.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} '{p}' does not exist{hint}")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} '{p}' is not valid YAML: {exc}") from exc


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``path`` and move it into place on success.

    On an exception the temporary folder is removed and ``path`` is untouched.

    Args:
        path: the final folder.
        replace: whether an existing ``path`` is replaced (it is moved aside first, then deleted).

    Yields:
        The temporary folder to write into.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private (0700); the final folder gets the usual mode
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        if not replace:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(f"'{path}' exists and replace=False")
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def hub_snapshot_revision(path: str | Path) -> str | None:
    """The commit of a file or folder in the Hugging Face cache layout (``.../snapshots/<revision>/...``), or
    None outside that layout: the revision a download actually got, for provenance records."""
    parts = Path(path).parts
    k = parts.index("snapshots") + 1 if "snapshots" in parts else len(parts)
    return parts[k] if k < len(parts) else None


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks of ``chunk_bytes``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_bytes), b""):
            h.update(block)
    return h.hexdigest()


def params_hash(params: Any, length: int = 12) -> str:
    """Identity of a parameter set: the SHA-256 of its sorted JSON, cut to ``length`` hex digits."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def git_commit(path: str | Path | None = None) -> str | None:
    """Commit of the git checkout holding ``path`` (default: this package), with ``-dirty`` if modified.

    Returns:
        The hex commit, or None outside a git checkout.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def package_versions(names: tuple[str, ...] = (
    "heritage-core", "torch", "torchvision", "timm", "segmentation-models-pytorch",
    "albumentations", "numpy", "pandas", "pyarrow", "papermill",
)) -> dict[str, str | None]:
    """Installed versions of the packages that decide a run's numbers (None when not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")
