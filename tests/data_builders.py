"""Small builders of dataset sources for the data tests: ARTeFACT-schema parquet and metadata.csv folders."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

#: Hugging Face ``datasets`` Image feature as stored in parquet.
IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
#: The published ARTeFACT columns, in order.
ARTEFACT_SCHEMA = pa.schema([
    ("id", pa.string()), ("image", IMAGE_STRUCT), ("annotation", IMAGE_STRUCT), ("annotation_rgb", IMAGE_STRUCT),
    ("material", pa.string()), ("content", pa.string()), ("type", pa.string()),
    ("damage_description", pa.string()), ("llava_description", pa.string()), ("verified_description", pa.string()),
])


def encode(array: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    """PNG/JPEG bytes of a uint8 array ((H, W) or (H, W, 3))."""
    buf = io.BytesIO()
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def block_image(blocks: np.ndarray, cell: int) -> np.ndarray:
    """(H*cell, W*cell, 3) uint8 image whose cell x cell blocks are the grey values of ``blocks`` (H, W)."""
    grey = np.kron(blocks.astype(np.uint8), np.ones((cell, cell), dtype=np.uint8))
    return np.repeat(grey[:, :, None], 3, axis=2)


def block_mask(blocks: np.ndarray, cell: int) -> np.ndarray:
    """(H*cell, W*cell) uint8 mask whose cell x cell blocks hold the labels of ``blocks`` (H, W)."""
    return np.kron(blocks.astype(np.uint8), np.ones((cell, cell), dtype=np.uint8))


def artefact_row(
    item_id: str | None,
    image: np.ndarray | bytes,
    mask: np.ndarray | bytes,
    material: str | None = "Paper",
    content: str | None = "Artistic depiction",
    image_format: str = "PNG",
) -> dict:
    """One row in the ARTeFACT schema; arrays are encoded (image as ``image_format``, mask as PNG)."""
    image_bytes = image if isinstance(image, bytes) else encode(image, image_format)
    mask_bytes = mask if isinstance(mask, bytes) else encode(mask)
    return {
        "id": item_id,
        "image": {"bytes": image_bytes, "path": f"{item_id}.{image_format.lower()}"},
        "annotation": {"bytes": mask_bytes, "path": f"{item_id}_annotation.png"},
        "annotation_rgb": {"bytes": b"not read by the readers", "path": None},
        "material": material, "content": content, "type": "Physical",
        "damage_description": "", "llava_description": "", "verified_description": "",
    }


def write_artefact_parquet(path: Path, rows: list[dict], row_group_size: int = 2, drop: tuple[str, ...] = ()) -> Path:
    """Write ``rows`` as an ARTeFACT shard at ``path`` (several row groups), without the columns ``drop``."""
    schema = ARTEFACT_SCHEMA
    for name in drop:
        schema = schema.remove(schema.get_field_index(name))
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k not in drop} for r in rows], schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_csv_folder(
    root: Path, items: list[dict], image_column: str = "image_path", mask_column: str = "annotation_path"
) -> Path:
    """A folder with ``metadata.csv`` and PNG files; ``items`` hold ``id``, ``image``, ``mask`` arrays and metadata."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rows = []
    for item in items:
        meta = {k: v for k, v in item.items() if k not in {"image", "mask"}}
        image_rel, mask_rel = f"images/{item['id']}.png", f"masks/{item['id']}.png"
        if item.get("image") is not None:
            (root / image_rel).write_bytes(encode(item["image"]))
        if item.get("mask") is not None:
            (root / mask_rel).write_bytes(encode(item["mask"]))
        rows.append({**meta, image_column: image_rel, mask_column: mask_rel})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root
