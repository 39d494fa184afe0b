"""Encoder weights by name: ImageNet checkpoints of timm and segmentation-models-pytorch, fetched once.

A ``pretrained`` value (:func:`heritage_core.models.create_model`, ``train.pretrained`` in a profile) is one of

* a local file: a ``.safetensors`` file or torch checkpoint, read by
  :func:`heritage_core.models.encoder.load_encoder_weights`;
* ``timm:<model>.<tag>``, e.g. ``timm:convnext_tiny.fb_in22k_ft_in1k``: the file timm's own pretrained loading
  reads, ``model.safetensors`` of the Hugging Face repository named by the tag's pretrained config
  (``timm/convnext_tiny.fb_in22k_ft_in1k``);
* ``smp:<encoder>.<weights>``, e.g. ``smp:mit_b3.imagenet``: the SegFormer MiT weights as
  segmentation-models-pytorch provides them (its ``smp-hub`` repository at the revision smp pins).

Tags resolve through ``huggingface_hub.hf_hub_download``: the Hugging Face cache under ``HF_HOME`` is used when it
holds the file, and ``HF_HUB_OFFLINE=1`` (set by the user, never by this project) forbids the network. Compute
nodes without internet use a folder written once on a login node by :func:`fetch_weights`
(``heritage weights fetch TAG... --out DIR``): one ``.safetensors`` per tag and ``DIR/manifest.json`` (tag,
file, sha256, source repository and revision); with ``weights_dir`` a tag is looked up there only and never
downloaded. A tag that is neither in that folder, nor cached, nor reachable is a :class:`ModelError` naming the
tag and the fetch command, raised when the model is built, before any training.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heritage_core.errors import ModelError

__all__ = ["SOURCES", "WeightsSource", "parse_tag", "is_tag", "resolve_weights", "fetch_weights", "MANIFEST"]

#: Tag prefixes: timm pretrained tags and segmentation-models-pytorch encoder weights.
SOURCES = ("timm", "smp")
#: File name of the manifest a fetched weights folder holds.
MANIFEST = "manifest.json"
_TAG = re.compile(r"^(timm|smp):([A-Za-z0-9_]+)\.([A-Za-z0-9_.\-]+)$")


@dataclass(frozen=True)
class WeightsSource:
    """Where a tag's weights come from.

    Attributes:
        tag: the tag as given (``timm:convnext_tiny.fb_in22k_ft_in1k``).
        source: ``timm`` or ``smp``.
        model: the architecture (``convnext_tiny``), which must equal the encoder it is loaded into.
        weights: the pretrained tag or weights name (``fb_in22k_ft_in1k``, ``imagenet``).
        repo_id: Hugging Face repository of the file.
        filename: file in the repository.
        revision: pinned revision, or None for the default branch.
    """

    tag: str
    source: str
    model: str
    weights: str
    repo_id: str
    filename: str = "model.safetensors"
    revision: str | None = None


def is_tag(pretrained: str | None) -> bool:
    """Whether a ``pretrained`` value is a ``timm:``/``smp:`` tag rather than a file path."""
    return isinstance(pretrained, str) and pretrained.split(":", 1)[0] in SOURCES and ":" in pretrained


def _fetch_hint(tag: str) -> str:
    return (f"fetch it once where there is internet with `heritage weights fetch {tag} --out weights` and pass "
            f"weights_dir (profile: train.weights_dir: weights), or give a local weights file")


def parse_tag(tag: str) -> WeightsSource:
    """The repository and file of a tag, from timm's pretrained configs or smp's encoder table (no network).

    Raises:
        ModelError: a malformed tag, or one that timm or smp does not know (the message lists close tags).
    """
    m = _TAG.match(tag) if isinstance(tag, str) else None
    if m is None:
        raise ModelError(f"weights tag {tag!r} is not of the form 'timm:<model>.<tag>' (e.g. "
                         f"'timm:convnext_tiny.fb_in22k_ft_in1k') or 'smp:<encoder>.<weights>' (e.g. 'smp:mit_b3.imagenet')")
    source, model, weights = m.groups()
    if source == "timm":
        import timm

        try:
            cfg = timm.models.get_pretrained_cfg(f"{model}.{weights}")
        except RuntimeError:  # "Invalid pretrained tag (...) for <model>"
            cfg = None
        if cfg is None or not getattr(cfg, "hf_hub_id", None):
            known = timm.list_pretrained(f"{model}.*") if timm.is_model(model) else []
            raise ModelError(f"timm has no pretrained weights '{model}.{weights}' ({tag}); "
                             + (f"its tags are {known[:8]}" if known else f"'{model}' is not a timm model"))
        return WeightsSource(tag, source, model, weights, str(cfg.hf_hub_id),
                             getattr(cfg, "hf_hub_filename", None) or "model.safetensors",
                             getattr(cfg, "hf_revision", None))
    from segmentation_models_pytorch.encoders import encoders

    settings = encoders.get(model, {}).get("pretrained_settings", {})
    if weights not in settings or "repo_id" not in settings[weights]:
        raise ModelError(f"segmentation-models-pytorch has no weights '{weights}' for encoder '{model}' ({tag}); "
                         + (f"its weights are {sorted(settings)}" if settings else f"'{model}' is not an smp encoder"))
    return WeightsSource(tag, source, model, weights, settings[weights]["repo_id"], "model.safetensors",
                         settings[weights].get("revision"))


def _read_manifest(weights_dir: Path) -> dict[str, dict[str, Any]]:
    path = weights_dir / MANIFEST
    if not path.is_file():
        raise ModelError(f"weights folder '{weights_dir}' has no {MANIFEST}; write it with "
                         f"`heritage weights fetch TAG... --out {weights_dir}`")
    try:
        entries = json.loads(path.read_text())["weights"]
        return {e["tag"]: e for e in entries}
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"'{path}' is not a weights manifest ({exc}); rewrite it with `heritage weights fetch`") from exc


def resolve_weights(pretrained: str, encoder: str, *, weights_dir: str | Path | None = None) -> Path:
    """The local file a ``pretrained`` value names (module docstring), downloading a tag only when allowed.

    Args:
        pretrained: a file path or a ``timm:``/``smp:`` tag.
        encoder: the encoder the weights are for; a tag must name this architecture.
        weights_dir: a folder written by :func:`fetch_weights`; tags are then looked up there only.

    Returns:
        Path of a local weights file.

    Raises:
        ModelError: a tag for another architecture, unknown to timm/smp, missing from ``weights_dir``, or neither
            cached nor reachable (the message names the tag and the fetch command).
    """
    if not is_tag(pretrained):
        return Path(pretrained)
    src = parse_tag(pretrained)
    if src.model != encoder:
        raise ModelError(f"weights tag '{pretrained}' is for '{src.model}' but the encoder is '{encoder}'; give "
                         f"weights of '{encoder}' (e.g. timm:{encoder}.<tag>)")
    if weights_dir is not None:
        entry = _read_manifest(Path(weights_dir)).get(pretrained)
        if entry is None:
            raise ModelError(f"weights tag '{pretrained}' is not in '{Path(weights_dir) / MANIFEST}'; "
                             f"{_fetch_hint(pretrained)}")
        path = Path(weights_dir) / entry["file"]
        if not path.is_file():
            raise ModelError(f"'{path}' listed for '{pretrained}' in the manifest does not exist; fetch it again")
        return path
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(src.repo_id, filename=src.filename, revision=src.revision))
    except Exception as exc:  # offline and not cached, no network, gated or missing repository
        raise ModelError(f"cannot get weights '{pretrained}' ({src.repo_id}/{src.filename}): neither in the Hugging "
                         f"Face cache (HF_HOME) nor downloadable here ({type(exc).__name__}: {exc}). "
                         f"{_fetch_hint(pretrained)}") from exc


def fetch_weights(tags: list[str], out_dir: str | Path) -> Path:
    """Download (or take from the Hugging Face cache) every tag and write ``out_dir``: one ``<tag>.safetensors``
    per tag and ``manifest.json`` (tag, file, sha256, repo_id, revision); existing entries of other tags are kept.

    Args:
        tags: ``timm:``/``smp:`` tags.
        out_dir: the folder to write (created).

    Returns:
        The manifest's path.

    Raises:
        ModelError: a bad tag, or a file that cannot be had (nothing is written for any tag then).
    """
    from heritage_core.runs import atomic_write_json, hub_snapshot_revision, sha256_file

    if not tags:
        raise ModelError("weights fetch: give at least one tag, e.g. timm:convnext_tiny.fb_in22k_ft_in1k")
    resolved = []
    for tag in tags:
        src = parse_tag(tag)
        resolved.append((src, resolve_weights(tag, src.model)))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = _read_manifest(out) if (out / MANIFEST).is_file() else {}
    for src, path in resolved:
        name = f"{src.source}-{src.model}.{src.weights}.safetensors"
        tmp = out / f".{name}.part"
        shutil.copyfile(path, tmp)
        tmp.replace(out / name)
        entries[src.tag] = {"tag": src.tag, "file": name, "sha256": sha256_file(out / name), "repo_id": src.repo_id,
                            "revision": hub_snapshot_revision(path) or src.revision}
    return atomic_write_json(out / MANIFEST, {"format": 1, "weights": sorted(entries.values(), key=lambda e: e["tag"])})
