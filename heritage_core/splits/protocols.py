"""Domain-generalisation splits of an ingest cache: the protocols, their manifests, and the checks on both.

Protocols (``PROTOCOLS``; the name is what manifests, file names and tables carry):

* ``locontent``: leave one content type out. One fold per content; all of it is ``ood_test``.
* ``lomaterial``: leave one material out. One fold per material; all of it is ``ood_test``.
* ``random``: one in-domain fold named ``all``; ``ood_test`` is empty (the in-domain baseline).

In every fold the in-domain items (those not held out) are divided into ``train``, ``val`` (model selection)
and ``id_test`` (in-domain test, for the DG gap), by default 70/15/15 of their items.

Rules shared by the protocols:

* **Groups.** Items are assigned by ``group`` (the cache index column: the source id; derived copies inherit
  it), never one by one, so no group appears in two partitions of a fold. :func:`write_manifests` and
  :func:`load_manifest` check this and raise :class:`~heritage_core.errors.ManifestError`.
* **Groups that span domains.** In a leave-one-out fold, the items of the held-out domain always go to
  ``ood_test``, so ``ood_test`` is exactly the held-out domain. The other items of a group that touches the
  held-out domain are left out of the fold (``Manifest.excluded``, with a :class:`SplitWarning`): keeping
  them in ``train`` would leak the source into the test set. In-domain, such a group is placed by its
  majority domain (ties: the alphabetically first).
* **Stratification, at group level.** Groups are split stratum by stratum; the stratum is a group's content
  (``locontent``, ``random``) or material (``lomaterial``). Inside a stratum the groups are ordered by the
  other domain (its values in a seeded random order, groups shuffled inside each value), and each group in
  turn goes to the partition furthest below its target share of the items seen so far. Each partition's
  item count in a stratum is then within twice the stratum's largest group of its target, and the other
  domain is spread over the partitions in proportion too.
* **One assignment per stratum.** A group's in-domain partition depends only on the split seed and its
  stratum, not on the fold: the folds of one seed agree wherever they overlap, and the ``id_test`` of a
  ``locontent`` fold is the ``random`` protocol's ``id_test`` minus the held-out content.
* **Determinism.** The same index (in any row order), protocol, seed and fractions give identical
  manifests; another seed gives another assignment.

Fold names (``Manifest.fold``) are filesystem-safe slugs of the held-out domain (``Line art`` ->
``line_art``, ``Lime plaster`` -> ``lime_plaster``), or ``all`` for ``random``. Folds come in the order of
:data:`CONTENTS` / :data:`MATERIALS` (the ARTeFACT domains), then any other domain value alphabetically;
only domains present in the index get a fold. Manifest files are named ``{protocol}_seed{seed}_{fold}.json``,
e.g. ``locontent_seed0_artistic_depiction.json``.
"""
from __future__ import annotations

import math
import re
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from heritage_core.data.cache import compute_fingerprint, open_cache
from heritage_core.errors import ConfigError, DataError, ManifestError
from heritage_core.runs import atomic_write_json, read_record
from heritage_core.taxonomy import default_taxonomy, fold_slug

if TYPE_CHECKING:
    from heritage_core.data.cache import Cache

__all__ = [
    "PROTOCOLS",
    "PARTITIONS",
    "ID_PARTITIONS",
    "EVAL_PARTITIONS",
    "CONTENTS",
    "MATERIALS",
    "DEFAULT_FRACTIONS",
    "SplitWarning",
    "Manifest",
    "check_index",
    "check_fractions",
    "fold_slug",
    "fold_domains",
    "make_splits",
    "make_splits_for_seeds",
    "validate_manifest",
    "write_manifests",
    "load_manifest",
]

#: Split protocols.
PROTOCOLS = ("locontent", "lomaterial", "random")
#: Partitions of every fold, in order.
PARTITIONS = ("train", "val", "id_test", "ood_test")
#: The in-domain partitions, in the order of ``fractions``.
ID_PARTITIONS = ("train", "val", "id_test")
#: The partitions a run is scored on (model selection's val and the two test sets), in order.
EVAL_PARTITIONS = PARTITIONS[1:]
#: ARTeFACT content types, in fold order (``configs/taxonomy.yaml``).
CONTENTS = default_taxonomy().contents
#: ARTeFACT materials, in fold order (``configs/taxonomy.yaml``).
MATERIALS = default_taxonomy().materials
#: Default shares of the in-domain items for train, val, id_test.
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)

#: Column holding the held-out domain of each protocol (None: nothing held out).
_HELD_OUT_COLUMN = {"locontent": "content", "lomaterial": "material", "random": None}
#: Column defining the stratum of a group for each protocol; the other domain column orders groups inside it.
_STRATUM_COLUMN = {"locontent": "content", "lomaterial": "material", "random": "content"}
_CANONICAL = {"content": CONTENTS, "material": MATERIALS}
_OTHER = {"content": "material", "material": "content"}
_RANDOM_FOLD = "all"
_SLUG = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_MANIFEST_KEYS = ("protocol", "fold", "held_out", "seed", "dataset_fingerprint", "fractions", "partitions",
                  "counts", "groups", "excluded")
_SHOW = 10


class SplitWarning(UserWarning):
    """A split is usable but weak: a small partition, a class missing from train, or items left out."""


@dataclass(frozen=True)
class Manifest:
    """One fold of one protocol and split seed: which item ids are in which partition.

    Attributes:
        protocol: one of :data:`PROTOCOLS`.
        fold: filesystem-safe fold name (slug of ``held_out``, or ``all`` for ``random``).
        held_out: the held-out content or material as written in the index; None for ``random``.
        seed: split seed.
        dataset_fingerprint: fingerprint of the cache index the split was made from.
        fractions: target shares of the in-domain items, ``{"train", "val", "id_test"}`` in [0, 1].
        partitions: sorted item ids per partition, keys :data:`PARTITIONS` (``ood_test`` empty for ``random``).
        counts: number of items per partition, plus ``excluded``.
        groups: sorted group ids per partition; no group is in two partitions.
        excluded: ids left out of the fold because their group touches the held-out domain.
    """

    protocol: str
    fold: str
    held_out: str | None
    seed: int
    dataset_fingerprint: str
    fractions: dict[str, float]
    partitions: dict[str, list[str]]
    counts: dict[str, int]
    groups: dict[str, list[str]]
    excluded: list[str] = field(default_factory=list)

    @property
    def filename(self) -> str:
        """File name of the manifest: ``{protocol}_seed{seed}_{fold}.json``."""
        return f"{self.protocol}_seed{self.seed}_{self.fold}.json"

    def to_dict(self) -> dict[str, Any]:
        """The manifest as the JSON-ready mapping :func:`write_manifests` writes."""
        return {key: getattr(self, key) for key in _MANIFEST_KEYS}


# ------------------------------------------------------------------------------------------- inputs
def check_index(index: pd.DataFrame) -> pd.DataFrame:
    """Validate a cache index for splitting and return it sorted by id, indexed by id.

    Args:
        index: the cache index (``Cache.index``) or any frame with columns ``id`` (or an id index),
            ``group``, ``content`` and ``material``.

    Returns:
        A copy with string columns ``id``, ``group``, ``content``, ``material`` (and the others it had),
        indexed and sorted by ``id``.

    Raises:
        DataError: a column is missing, a value is empty, or an id is repeated.
    """
    frame = index if "id" in index.columns else index.rename_axis("id").reset_index()
    missing = [c for c in ("id", "group", "content", "material") if c not in frame.columns]
    if missing:
        raise DataError(f"index lacks columns {missing}; pass a cache index (open_cache(root).index)")
    frame = frame.reset_index(drop=True).copy()
    for col in ("id", "group", "content", "material"):
        values = frame[col].astype(str)
        empty = frame.loc[frame[col].isna() | (values.str.strip() == ""), "id"].astype(str).tolist()
        if empty:
            raise DataError(f"index column '{col}' is empty for ids {_some(empty)}; every item needs a {col}")
        frame[col] = values
    repeated = sorted(set(frame.loc[frame["id"].duplicated(), "id"]))
    if repeated:
        raise DataError(f"index repeats ids {_some(repeated)}; ids must be unique (re-run 'heritage ingest')")
    return frame.sort_values("id").set_index("id", drop=False)


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate the train/val/id_test shares.

    Args:
        fractions: three numbers in [0, 1] summing to 1 (within 1e-6), train > 0.

    Returns:
        The shares as a tuple of floats.

    Raises:
        ConfigError: wrong length, a value outside [0, 1], a zero train share, or a sum other than 1.
    """
    values = list(fractions) if isinstance(fractions, (list, tuple)) else None
    if values is None or len(values) != 3 or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 1
        for v in values
    ):
        raise ConfigError(
            f"fractions is {fractions!r}; it must be three shares in [0, 1] for (train, val, id_test), "
            f"e.g. {list(DEFAULT_FRACTIONS)}"
        )
    if values[0] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise ConfigError(
            f"fractions {values} must sum to 1 (sum is {sum(values):.6g}) with a train share > 0, "
            f"e.g. {list(DEFAULT_FRACTIONS)}"
        )
    return float(values[0]), float(values[1]), float(values[2])


def _check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol is {protocol!r}; allowed are {', '.join(PROTOCOLS)}")
    return protocol


def _check_seed(seed: Any, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"{name} is {seed!r}; a split seed must be an integer >= 0")
    return int(seed)


def _fingerprint(items: pd.DataFrame) -> str:
    missing = [c for c in ("label_level", "sha256", "height", "width") if c not in items.columns]
    if missing:
        raise DataError(f"index lacks the fingerprint columns {missing}; pass fingerprint= (e.g. cache.fingerprint)")
    return compute_fingerprint(items.reset_index(drop=True))


def _some(values: Iterable[Any]) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:_SHOW])
    return f"[{shown}{f', … and {len(values) - _SHOW} more' if len(values) > _SHOW else ''}]"


# ------------------------------------------------------------------------------------------- folds
def fold_domains(index: pd.DataFrame, protocol: str) -> list[str]:
    """The held-out domain of each fold of ``protocol`` on ``index``, in fold order ([] for ``random``).

    Raises:
        ConfigError: unknown protocol.
        DataError: fewer than two domains, or two domains with the same slug.
    """
    column = _HELD_OUT_COLUMN[_check_protocol(protocol)]
    if column is None:
        return []
    present = set(check_index(index)[column])
    canonical = [d for d in _CANONICAL[column] if d in present]
    domains = canonical + sorted(present - set(canonical))
    if len(domains) < 2:
        raise DataError(
            f"protocol '{protocol}' holds out one {column} per fold, but the index has only {domains}; "
            f"use protocol 'random' or a dataset with at least two {column}s"
        )
    slugs: dict[str, str] = {}
    for domain in domains:
        other = slugs.setdefault(fold_slug(domain), domain)
        if other != domain:
            raise DataError(f"{column}s {other!r} and {domain!r} share the fold name '{fold_slug(domain)}'; rename one")
    return domains


# -------------------------------------------------------------------------------------- assignment
def _majority(items: pd.DataFrame, column: str) -> pd.Series:
    """Most frequent ``column`` value of each group (ties: the alphabetically first), indexed by group."""
    counts = items.groupby(["group", column], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["group", "n", column], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("group").set_index("group")[column]


def _assign_groups(
    items: pd.DataFrame, stratum_col: str, seed: int, fractions: tuple[float, float, float]
) -> dict[str, str]:
    """In-domain partition of every group (see the module docstring for the rule)."""
    order_col = _OTHER[stratum_col]
    groups = pd.DataFrame({
        "size": items.groupby("group", sort=True).size(),
        "stratum": _majority(items, stratum_col),
        "order": _majority(items, order_col),
    })
    target = np.asarray(fractions)
    assignment: dict[str, str] = {}
    for stratum, block in groups.groupby("stratum", sort=True):
        rng = np.random.default_rng([seed, zlib.crc32(f"{stratum_col}={stratum}".encode())])
        ordered: list[str] = []
        for value in rng.permutation(sorted(block["order"].unique())):
            ordered.extend(str(g) for g in rng.permutation(sorted(block.index[block["order"] == value])))
        assigned, seen = np.zeros(3), 0
        for group in ordered:
            size = int(block.at[group, "size"])
            seen += size
            k = int(np.argmax(target * seen - assigned))
            assigned[k] += size
            assignment[group] = ID_PARTITIONS[k]
    return assignment


def _manifest(protocol: str, fold: str, held_out: str | None, seed: int, fingerprint: str,
              fractions: tuple[float, float, float], members: dict[str, pd.DataFrame], excluded: list[str]) -> Manifest:
    partitions = {p: sorted(members[p]["id"]) for p in PARTITIONS}
    counts = {p: len(partitions[p]) for p in PARTITIONS} | {"excluded": len(excluded)}
    return Manifest(
        protocol=protocol, fold=fold, held_out=held_out, seed=seed, dataset_fingerprint=fingerprint,
        fractions=dict(zip(ID_PARTITIONS, fractions)), partitions=partitions, counts=counts,
        groups={p: sorted(set(members[p]["group"])) for p in PARTITIONS}, excluded=sorted(excluded),
    )


def make_splits(
    index: pd.DataFrame,
    protocol: str,
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    fingerprint: str | None = None,
) -> list[Manifest]:
    """All folds of ``protocol`` for one split seed.

    Args:
        index: the cache index (columns of ``heritage_core.data.cache.INDEX_COLUMNS``; ``id``, ``group``,
            ``content`` and ``material`` are used).
        protocol: one of :data:`PROTOCOLS`.
        seed: split seed (integer >= 0).
        fractions: shares of the in-domain items for train, val and id_test.
        fingerprint: dataset fingerprint recorded in the manifests; default: computed from ``index``
            (equal to the cache's own).

    Returns:
        One :class:`Manifest` per fold, in fold order (:func:`fold_domains`).

    Raises:
        ConfigError: bad protocol, seed or fractions.
        DataError: bad index, too few domains, or a fold with no in-domain item left.

    Warns:
        SplitWarning: items left out of a fold because their group touches the held-out domain.
    """
    protocol, seed, shares = _check_protocol(protocol), _check_seed(seed), check_fractions(fractions)
    items = check_index(index)
    fingerprint = _fingerprint(items) if fingerprint is None else fingerprint
    assignment = items["group"].map(_assign_groups(items, _STRATUM_COLUMN[protocol], seed, shares))
    none = items.iloc[:0]
    column = _HELD_OUT_COLUMN[protocol]
    if column is None:
        members = {p: items[assignment == p] for p in ID_PARTITIONS} | {"ood_test": none}
        return [_manifest(protocol, _RANDOM_FOLD, None, seed, fingerprint, shares, members, [])]
    manifests = []
    for domain in fold_domains(items, protocol):
        held = items[column] == domain
        touched = items["group"].isin(set(items.loc[held, "group"]))
        excluded = items.loc[touched & ~held, "id"].tolist()
        pool = ~touched
        if not pool.any():
            raise DataError(
                f"protocol '{protocol}', fold '{fold_slug(domain)}': every group has an item of the held-out "
                f"{column} {domain!r}, so nothing is left to train on; check the index's 'group' column"
            )
        if excluded:
            warnings.warn(
                f"protocol '{protocol}' seed {seed} fold '{fold_slug(domain)}': {len(excluded)} items "
                f"{_some(sorted(excluded))} share a group with held-out {column} {domain!r} items and are left "
                f"out of the fold (Manifest.excluded)", SplitWarning, stacklevel=2,
            )
        members = {p: items[pool & (assignment == p)] for p in ID_PARTITIONS} | {"ood_test": items[held]}
        manifests.append(_manifest(protocol, fold_slug(domain), domain, seed, fingerprint, shares, members, excluded))
    return manifests


def make_splits_for_seeds(
    index: pd.DataFrame,
    protocol: str,
    seeds: Sequence[int],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    fingerprint: str | None = None,
) -> list[Manifest]:
    """:func:`make_splits` for each seed in ``seeds``, concatenated (seed-major, then fold order).

    Raises:
        ConfigError: ``seeds`` is empty or repeats a seed; see :func:`make_splits` for the rest.
    """
    seeds = [_check_seed(s, "seeds[]") for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds is {seeds!r}; give a non-empty list of distinct split seeds, e.g. [0, 1, 2]")
    fingerprint = _fingerprint(check_index(index)) if fingerprint is None else fingerprint
    return [m for s in seeds for m in make_splits(index, protocol, s, fractions, fingerprint)]


# -------------------------------------------------------------------------------------- validation
def _fail(name: str, text: str) -> None:
    raise ManifestError(f"manifest '{name}': {text}")


def validate_manifest(
    manifest: Manifest,
    index: pd.DataFrame | None = None,
    *,
    fingerprint: str | None = None,
    name: str | None = None,
) -> None:
    """Check a manifest on its own and, when given, against a dataset.

    On its own: known protocol, slug fold name, fractions, partition keys, no id twice, no id in two
    partitions (or in a partition and ``excluded``), counts that match, no group in two partitions,
    ``ood_test`` empty for ``random``. With ``fingerprint``: it equals the manifest's. With ``index``: every id
    is known, every item of the index is placed, the groups the index gives the ids match the recorded ones
    (so no group crosses partitions), and for a leave-one-out fold ``ood_test`` is exactly the held-out domain.

    Args:
        manifest: the manifest.
        index: cache index to check the ids and groups against.
        fingerprint: fingerprint of the dataset the manifest is used with.
        name: how to name the manifest in messages (default: its file name).

    Raises:
        ManifestError: the first failed check, naming the offending ids or groups.
    """
    name = name or manifest.filename
    if manifest.protocol not in PROTOCOLS:
        _fail(name, f"protocol is {manifest.protocol!r}; allowed are {', '.join(PROTOCOLS)}")
    if not isinstance(manifest.fold, str) or not _SLUG.match(manifest.fold):
        _fail(name, f"fold {manifest.fold!r} is not a filesystem-safe slug (lower case, digits and '_')")
    if (manifest.held_out is None) != (manifest.protocol == "random"):
        _fail(name, f"held_out is {manifest.held_out!r}; it must be null for 'random' and a domain name otherwise")
    if isinstance(manifest.seed, bool) or not isinstance(manifest.seed, int) or manifest.seed < 0:
        _fail(name, f"seed is {manifest.seed!r}; a split seed is an integer >= 0")
    try:
        check_fractions([manifest.fractions[p] for p in ID_PARTITIONS])
    except (KeyError, TypeError, ConfigError) as exc:
        _fail(name, f"fractions {manifest.fractions!r} are invalid ({exc}); expected keys {list(ID_PARTITIONS)}")
    for label, mapping in (("partitions", manifest.partitions), ("groups", manifest.groups)):
        if not isinstance(mapping, dict) or sorted(mapping) != sorted(PARTITIONS):
            _fail(name, f"{label} has keys {sorted(mapping) if isinstance(mapping, dict) else mapping!r}; "
                        f"expected exactly {list(PARTITIONS)}")
    placed: dict[str, str] = {}
    for part, ids in [*manifest.partitions.items(), ("excluded", manifest.excluded)]:
        if not isinstance(ids, list) or any(not isinstance(i, str) for i in ids):
            _fail(name, f"'{part}' must be a list of id strings")
        twice = sorted({i for i in ids if i in placed} | {i for i, n in Counter(ids).items() if n > 1})
        if twice:
            where = sorted({placed.get(i, part) for i in twice} | {part})
            _fail(name, f"ids {_some(twice)} appear more than once (in {where}); partitions must not overlap")
        placed.update(dict.fromkeys(ids, part))
        if not isinstance(manifest.counts, dict) or manifest.counts.get(part) != len(ids):
            _fail(name, f"counts['{part}'] is {manifest.counts.get(part)!r} but '{part}' holds {len(ids)} ids")
    if manifest.protocol == "random" and manifest.partitions["ood_test"]:
        _fail(name, f"protocol 'random' has an empty ood_test, but it holds {_some(manifest.partitions['ood_test'])}")
    owner: dict[str, str] = {}
    for part in PARTITIONS:
        crossing = sorted(g for g in manifest.groups[part] if g in owner)
        if crossing:
            _fail(name, f"groups {_some(crossing)} are in both '{owner[crossing[0]]}' and '{part}'; a source group "
                        f"must stay in one partition (leakage). Rebuild the manifest with make_splits")
        owner.update(dict.fromkeys(manifest.groups[part], part))
    if fingerprint is not None and fingerprint != manifest.dataset_fingerprint:
        _fail(name, f"was built for dataset fingerprint {manifest.dataset_fingerprint[:12]}…, but the dataset has "
                    f"fingerprint {fingerprint[:12]}…. Re-run 01_splits on this dataset, or use a manifest built "
                    f"from it")
    if index is not None:
        _validate_against_index(manifest, check_index(index), placed, name)


def _validate_against_index(manifest: Manifest, items: pd.DataFrame, placed: dict[str, str], name: str) -> None:
    unknown = sorted(set(placed) - set(items.index))
    if unknown:
        _fail(name, f"references {len(unknown)} ids unknown to the dataset: {_some(unknown)}. The manifest belongs "
                    f"to another dataset; re-run 01_splits on this one")
    unplaced = sorted(set(items.index) - set(placed))
    if unplaced:
        _fail(name, f"leaves {len(unplaced)} dataset items in no partition: {_some(unplaced)}. The manifest belongs "
                    f"to another dataset; re-run 01_splits on this one")
    owner: dict[str, str] = {}
    for part in PARTITIONS:
        ids = manifest.partitions[part]
        actual = set(items.loc[ids, "group"])
        for group in sorted(actual):
            if owner.setdefault(group, part) != part:
                crossing = sorted(i for i in placed if placed[i] in PARTITIONS and items.at[i, "group"] == group)
                _fail(name, f"group {group!r} has items in '{owner[group]}' and '{part}' ({_some(crossing)}); a source "
                            f"group must stay in one partition (leakage). Rebuild the manifest with make_splits")
        if actual != set(manifest.groups[part]):
            diff = sorted(actual ^ set(manifest.groups[part]))
            _fail(name, f"the groups of '{part}' in the dataset differ from the recorded ones by {_some(diff)}; "
                        f"the dataset's group column changed. Re-run 01_splits")
    column = _HELD_OUT_COLUMN[manifest.protocol]
    if column is not None:
        expected = set(items.index[items[column] == manifest.held_out])
        wrong = sorted(expected ^ set(manifest.partitions["ood_test"]))
        if wrong:
            _fail(name, f"ood_test must be exactly the items with {column} {manifest.held_out!r}; these ids break "
                        f"that: {_some(wrong)}")


# ------------------------------------------------------------------------------------------- files
def write_manifests(manifests: Sequence[Manifest], out_dir: str | Path) -> list[Path]:
    """Validate and write each manifest atomically as ``out_dir/{protocol}_seed{seed}_{fold}.json``.

    Args:
        manifests: manifests to write (e.g. from :func:`make_splits_for_seeds`).
        out_dir: folder to write into (created if missing); other files there are left alone.

    Returns:
        The written paths, in the order of ``manifests``.

    Raises:
        ManifestError: a manifest fails :func:`validate_manifest`, or two share a file name. Nothing is
            written then.
    """
    names = [m.filename for m in manifests]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ManifestError(f"manifests {repeated} are given more than once; each (protocol, seed, fold) once")
    for m in manifests:
        validate_manifest(m)
    return [atomic_write_json(Path(out_dir) / m.filename, m.to_dict()) for m in manifests]


def load_manifest(path: str | Path, cache: Cache | str | Path | None = None) -> Manifest:
    """Read a manifest file and validate it, against a cache when one is given.

    Args:
        path: the manifest JSON file.
        cache: the dataset it will be used with (a :class:`~heritage_core.data.cache.Cache` or its folder);
            its fingerprint, ids and groups must match.

    Returns:
        The :class:`Manifest`.

    Raises:
        ManifestError: missing or unreadable file, missing or unknown keys, or a failed check of
            :func:`validate_manifest` (fingerprint mismatch, unknown ids, overlapping partitions, leakage).
    """
    path = Path(path)
    raw = read_record(path, ManifestError,
                      missing=f"manifest '{path}' does not exist; write it with 01_splits (splits.write_manifests)",
                      invalid=f"manifest '{path}' is not valid JSON ({{exc}}); re-run 01_splits")
    if not isinstance(raw, dict) or set(raw) != set(_MANIFEST_KEYS):
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ManifestError(f"manifest '{path}' has keys {keys}; expected exactly {sorted(_MANIFEST_KEYS)}")
    manifest = Manifest(**raw)
    if cache is not None and not hasattr(cache, "index"):
        cache = open_cache(cache)
    validate_manifest(
        manifest, cache.index if cache is not None else None,
        fingerprint=cache.fingerprint if cache is not None else None, name=str(path),
    )
    return manifest
