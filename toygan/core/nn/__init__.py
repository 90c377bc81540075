"""Hand-written layers and MLPs with explicit backward passes, on a member axis."""

from .activations import (
    ACTIVATIONS,
    Dropout,
    Identity,
    LeakyReLU,
    Maxout,
    ReLU,
    Sigmoid,
    Tanh,
    activation_layer,
)
from .layers import BatchNorm, Layer, Linear
from .mlp import MLP

__all__ = ["ACTIVATIONS", "BatchNorm", "Dropout", "Identity", "Layer", "LeakyReLU", "Linear",
           "MLP", "Maxout", "ReLU", "Sigmoid", "Tanh", "activation_layer"]
