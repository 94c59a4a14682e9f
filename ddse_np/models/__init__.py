"""Model registry: ``--model NAME`` -> class."""
from .base import Model
from .ddse import DDSE

MODELS = {DDSE.name: DDSE}

__all__ = ["MODELS", "Model", "DDSE"]
