"""The real dataset: ARTeFACT's parquet shards from the Hugging Face Hub, ready for ``heritage ingest``.

:func:`download_artefact` fetches the dataset repository's ``data/*.parquet`` shards (about 4 GB in 28 shards
for ``danielaivanova/damaged-media``) with ``huggingface_hub.snapshot_download`` into the Hugging Face cache
(``HF_HOME``: resumable, with a progress bar per file, shared with every other project) and lays them out as
``OUT/data/train-*.parquet`` (symbolic links into the cache, so the shards are stored once), with
``OUT/download.json`` recording the repository, the revision it got (the commit hash) and the files. Then
``heritage ingest OUT --out cache/artefact`` reads it. The user's ``HF_HUB_OFFLINE`` and ``HF_HOME`` are honoured.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from heritage_core.errors import DataError

__all__ = ["ARTEFACT_REPO", "SHARD_PATTERN", "download_artefact"]

#: The Hugging Face dataset repository of ARTeFACT.
ARTEFACT_REPO = "danielaivanova/damaged-media"
#: The files taken from it (the parquet shards only).
SHARD_PATTERN = "data/*.parquet"


def download_artefact(out: str | Path, *, repo: str = ARTEFACT_REPO, revision: str | None = None) -> dict[str, Any]:
    """Download (or take from the cache) the parquet shards of ``repo`` and write ``out/data`` + ``download.json``.

    Args:
        out: folder to write; ``out/data/*.parquet`` afterwards.
        repo: dataset repository id.
        revision: branch, tag or commit; None for the default branch.

    Returns:
        The record written to ``out/download.json``: ``repo``, ``revision`` (commit hash), ``requested_revision``,
        ``files`` (shard names).

    Raises:
        DataError: the repository cannot be reached and is not cached (the message names it and the offline
            setting), or it holds no parquet shard.
    """
    from huggingface_hub import snapshot_download

    from heritage_core.runs import atomic_write_json, hub_snapshot_revision

    print(f"downloading the parquet shards of {repo} (ARTeFACT: about 4 GB in 28 shards; resumable, cached under "
          f"HF_HOME) ...", flush=True)
    try:
        snapshot = Path(snapshot_download(repo, repo_type="dataset", revision=revision,
                                          allow_patterns=[SHARD_PATTERN]))
    except Exception as exc:  # no network, offline and not cached, unknown repository or revision
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") else ""
        raise DataError(f"cannot get dataset '{repo}'{'@' + revision if revision else ''}: it is not in the Hugging "
                        f"Face cache and cannot be downloaded here{offline} ({type(exc).__name__}: {exc}); run the "
                        f"command where there is internet, or copy the cache (HF_HOME) over") from exc
    shards = sorted((snapshot / "data").glob("*.parquet"))
    if not shards:
        raise DataError(f"dataset '{repo}' at {snapshot} holds no {SHARD_PATTERN}; is it the ARTeFACT repository?")
    data = Path(out) / "data"
    data.mkdir(parents=True, exist_ok=True)
    for shard in shards:
        link = data / shard.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(shard.resolve())
    record = {"repo": repo, "revision": hub_snapshot_revision(snapshot.resolve()), "requested_revision": revision,
              "files": [s.name for s in shards]}
    atomic_write_json(Path(out) / "download.json", record)
    return record
