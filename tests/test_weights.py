"""Encoder weights by name, offline: a Hugging Face cache laid out by hand, with HF_HOME pointing at it and
HF_HUB_OFFLINE=1 set for the child process only (the project never sets it for users)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from heritage_core.errors import ModelError
from heritage_core.models.weights import MANIFEST, fetch_weights, is_tag, parse_tag, resolve_weights

REPO = Path(__file__).resolve().parents[1]
REVISION = "0123456789abcdef0123456789abcdef01234567"


def hub_model(hf_home: Path, repo_id: str, state: dict[str, torch.Tensor], revision: str = REVISION,
              ref: str | None = "main") -> Path:
    """``hf_home/hub/models--<org>--<name>/snapshots/<revision>/model.safetensors`` (and ``refs/<ref>``)."""
    from safetensors.torch import save_file

    folder = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))
    if ref is not None:
        (folder / "refs").mkdir()
        (folder / "refs" / ref).write_text(revision)
    return snapshot / "model.safetensors"


def random_classifier(name: str) -> dict[str, torch.Tensor]:
    """The state dict of a randomly initialised timm classifier ``name`` (what timm's hub file holds)."""
    import timm

    torch.manual_seed(123)
    return timm.create_model(name, pretrained=False).state_dict()


def offline_env(hf_home: Path) -> dict[str, str]:
    return {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


def run_child(code: str, hf_home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=offline_env(hf_home), capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def test_tags_parse_without_network() -> None:
    assert is_tag("timm:resnet10t.c3_in1k") and is_tag("smp:mit_b3.imagenet") and not is_tag("w/atto.safetensors")
    src = parse_tag("timm:convnext_tiny.fb_in22k_ft_in1k")
    assert (src.repo_id, src.model, src.filename) == ("timm/convnext_tiny.fb_in22k_ft_in1k", "convnext_tiny",
                                                      "model.safetensors")
    mit = parse_tag("smp:mit_b3.imagenet")
    assert mit.repo_id == "smp-hub/mit_b3.imagenet" and mit.revision  # smp pins a revision
    with pytest.raises(ModelError, match="its tags are"):
        parse_tag("timm:resnet10t.nope")
    with pytest.raises(ModelError, match="not of the form"):
        parse_tag("timm:resnet10t")
    with pytest.raises(ModelError, match="is for 'resnet18' but the encoder is 'resnet10t'"):
        resolve_weights("timm:resnet18.a1_in1k", "resnet10t")
    assert resolve_weights("w/atto.safetensors", "convnext_atto") == Path("w/atto.safetensors")


def test_timm_tag_loads_the_cached_weights_offline(tmp_path: Path) -> None:
    state = random_classifier("resnet10t")
    hub_model(tmp_path / "hf", "timm/resnet10t.c3_in1k", state)
    torch.save(state["conv1.0.weight"], tmp_path / "expected.pt")
    child = run_child(f"""
import torch
from heritage_core.models import create_model
model = create_model("hierarchical", "resnet10t", pretrained="timm:resnet10t.c3_in1k", img_size=64)
report = model.encoder.weights_report
assert report.source == "timm:resnet10t.c3_in1k" and report.loaded > 50, report
assert "models--timm--resnet10t.c3_in1k" in report.path and not report.missing, report
got = dict(model.encoder.model.named_parameters())["conv1.0.weight"]
assert torch.equal(got, torch.load({str(tmp_path / 'expected.pt')!r}, weights_only=True)), "weights differ from the cache"
print("ok")
""", tmp_path / "hf")
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr[-3000:]


def test_smp_mit_tag_loads_offline(tmp_path: Path) -> None:
    from segmentation_models_pytorch.encoders import encoders, get_encoder

    revision = encoders["mit_b0"]["pretrained_settings"]["imagenet"]["revision"]
    torch.manual_seed(5)
    state = get_encoder("mit_b0", weights=None).state_dict()
    hub_model(tmp_path / "hf", "smp-hub/mit_b0.imagenet", state, revision=revision, ref=None)
    key = next(k for k in state if k.endswith("weight") and state[k].ndim == 4)
    torch.save(state[key], tmp_path / "expected.pt")
    child = run_child(f"""
import torch
from heritage_core.models import create_model
model = create_model("flat", "mit_b0", pretrained="smp:mit_b0.imagenet", img_size=64)
report = model.encoder.weights_report
assert report.source == "smp:mit_b0.imagenet" and not report.missing, report
assert torch.equal(model.encoder.model.state_dict()[{key!r}], torch.load({str(tmp_path / 'expected.pt')!r}, weights_only=True))
print("ok")
""", tmp_path / "hf")
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr[-3000:]


def test_a_missing_tag_names_itself_and_the_fetch_command(tmp_path: Path) -> None:
    (tmp_path / "hf" / "hub").mkdir(parents=True)
    child = run_child("""
from heritage_core.models import create_model
create_model("flat", "resnet10t", pretrained="timm:resnet10t.c3_in1k", img_size=64)
""", tmp_path / "hf")
    assert child.returncode != 0
    assert "cannot get weights 'timm:resnet10t.c3_in1k'" in child.stderr
    assert "heritage weights fetch timm:resnet10t.c3_in1k --out weights" in child.stderr


def test_weights_fetch_writes_files_and_manifest_and_a_run_loads_them(tmp_path: Path) -> None:
    state = random_classifier("resnet10t")
    hub_model(tmp_path / "hf", "timm/resnet10t.c3_in1k", state)
    out = tmp_path / "weights"
    child = subprocess.run([sys.executable, "-m", "heritage_core.cli", "weights", "fetch", "timm:resnet10t.c3_in1k",
                            "--out", str(out)], env=offline_env(tmp_path / "hf"), capture_output=True, text=True,
                           timeout=300, cwd=REPO)
    assert child.returncode == 0, child.stderr[-3000:]
    manifest = json.loads((out / MANIFEST).read_text())
    (entry,) = manifest["weights"]
    assert entry["tag"] == "timm:resnet10t.c3_in1k" and entry["revision"] == REVISION
    assert entry["repo_id"] == "timm/resnet10t.c3_in1k" and (out / entry["file"]).is_file()
    from heritage_core.runs import sha256_file

    assert entry["sha256"] == sha256_file(out / entry["file"])
    # a compute node without the cache: the tag resolves through the fetched folder only
    assert resolve_weights("timm:resnet10t.c3_in1k", "resnet10t", weights_dir=out) == out / entry["file"]
    with pytest.raises(ModelError, match="is not in .*manifest.json.*heritage weights fetch timm:resnet18"):
        resolve_weights("timm:resnet18.a1_in1k", "resnet18", weights_dir=out)
    with pytest.raises(ModelError, match="no manifest.json"):
        resolve_weights("timm:resnet10t.c3_in1k", "resnet10t", weights_dir=tmp_path)
    with pytest.raises(ModelError, match="at least one tag"):
        fetch_weights([], out)


def test_data_download_yields_a_folder_that_ingests(tmp_path: Path) -> None:
    from heritage_core.data.ingest import ingest
    from heritage_core.data.synth import write_synthetic_dataset

    snapshot = tmp_path / "hf" / "hub" / "datasets--danielaivanova--damaged-media" / "snapshots" / REVISION
    write_synthetic_dataset(snapshot, n=18, seed=1, max_side_px=64)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(REVISION)
    out = tmp_path / "artefact"
    child = subprocess.run([sys.executable, "-m", "heritage_core.cli", "data", "download", "--out", str(out)],
                           env=offline_env(tmp_path / "hf"), capture_output=True, text=True, timeout=300, cwd=REPO)
    assert child.returncode == 0, child.stderr[-3000:]
    record = json.loads((out / "download.json").read_text())
    assert record["repo"] == "danielaivanova/damaged-media" and record["revision"] == REVISION
    assert record["files"] and all((out / "data" / f).is_file() for f in record["files"])
    ingest(out, tmp_path / "cache", max_side_px=64, progress=False)
    from heritage_core.data.cache import open_cache

    assert len(open_cache(tmp_path / "cache").index) == 18
    # not cached and offline: a clear error naming the repository
    missing = subprocess.run([sys.executable, "-m", "heritage_core.cli", "data", "download", "--out", str(tmp_path / "x"),
                              "--repo", "someone/else"], env=offline_env(tmp_path / "hf"), capture_output=True,
                             text=True, timeout=300, cwd=REPO)
    assert missing.returncode == 2 and "cannot get dataset 'someone/else'" in missing.stderr
    assert "HF_HUB_OFFLINE is set" in missing.stderr
