"""Hand-written layers and MLPs with explicit backward passes, on a member axis."""

from .layers import (
    ACTIVATIONS,
    BatchNorm,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    Linear,
    Maxout,
    ReLU,
    Sigmoid,
    Tanh,
    activation_layer,
)
from .mlp import MLP

__all__ = ["ACTIVATIONS", "BatchNorm", "Dropout", "Identity", "Layer", "LeakyReLU", "Linear",
           "MLP", "Maxout", "ReLU", "Sigmoid", "Tanh", "activation_layer"]
