"""Model registry: ``--model NAME`` -> class, with the paper's numeral for each baseline."""

from .base import Model
from .ddse import DDSE, DDSENoSkip
from .lista import LISTA
from .mlp import FullyConnected, FullyConnectedDropConnect, FullyConnectedDropout

MODELS = {
    cls.name: cls
    for cls in (
        DDSE,
        FullyConnected,
        FullyConnectedDropout,
        FullyConnectedDropConnect,
        LISTA,
        DDSENoSkip,
    )
}
PAPER_NAMES = {
    "ddse": "DDSE",
    "fc": "Baseline I",
    "fc-dropout": "Baseline II",
    "fc-dropconnect": "Baseline III",
    "lista": "Baseline IV",
    "ddse-noskip": "Baseline V",
}

__all__ = [
    "MODELS",
    "PAPER_NAMES",
    "Model",
    "DDSE",
    "DDSENoSkip",
    "LISTA",
    "FullyConnected",
    "FullyConnectedDropout",
    "FullyConnectedDropConnect",
]
