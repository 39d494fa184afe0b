"""Exceptions raised by heritage_core: one base class, one subclass per failure kind.

Every message names the object (file, row, id, parameter or run), the value observed, what was allowed
and what to do next. Nothing is left half-written on disk when one of these is raised.
"""
from __future__ import annotations

__all__ = [
    "HeritageError",
    "ConfigError",
    "DataError",
    "ManifestError",
    "ModelError",
    "RunError",
    "SuiteError",
]


class HeritageError(Exception):
    """Base class of every error heritage_core raises on purpose."""


class ConfigError(HeritageError):
    """A parameter, YAML profile or taxonomy file has an unknown key, a wrong type or a bad value."""


class DataError(HeritageError):
    """A dataset source or cache is unreadable, inconsistent or violates the label contract."""


class ManifestError(HeritageError):
    """A split manifest does not match its dataset, overlaps, or references unknown ids."""


class ModelError(HeritageError):
    """A model cannot be built as asked (encoder name, input size, pretrained weights file)."""


class RunError(HeritageError):
    """A run directory is missing, incomplete, or would be overwritten."""


class SuiteError(HeritageError):
    """A suite step failed or the suite directory is inconsistent."""
