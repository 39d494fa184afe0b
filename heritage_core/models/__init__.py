"""Segmentation models: encoders by name, the UPerNet decoder, hierarchical and flat models, inference."""
from __future__ import annotations

from heritage_core.models.decode import PRED_KEYS as PRED_KEYS
from heritage_core.models.decode import path_log_probs as path_log_probs
from heritage_core.models.decode import predict as predict
from heritage_core.models.decode import violation_counts as violation_counts
from heritage_core.models.decode import violation_rate as violation_rate
from heritage_core.models.encoder import MIT_ENCODERS as MIT_ENCODERS
from heritage_core.models.encoder import REDUCTIONS as REDUCTIONS
from heritage_core.models.encoder import Encoder as Encoder
from heritage_core.models.encoder import WeightsReport as WeightsReport
from heritage_core.models.encoder import create_encoder as create_encoder
from heritage_core.models.encoder import load_encoder_weights as load_encoder_weights
from heritage_core.models.hierarchical import ARCHS as ARCHS
from heritage_core.models.hierarchical import FlatUPerNet as FlatUPerNet
from heritage_core.models.hierarchical import HierarchicalUPerNet as HierarchicalUPerNet
from heritage_core.models.hierarchical import create_model as create_model
from heritage_core.models.upernet import UPerNetDecoder as UPerNetDecoder

__all__ = [
    "ARCHS",
    "MIT_ENCODERS",
    "PRED_KEYS",
    "REDUCTIONS",
    "Encoder",
    "FlatUPerNet",
    "HierarchicalUPerNet",
    "UPerNetDecoder",
    "WeightsReport",
    "create_encoder",
    "create_model",
    "load_encoder_weights",
    "path_log_probs",
    "predict",
    "violation_counts",
    "violation_rate",
]
