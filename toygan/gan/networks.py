"""G and D as a run configures them, and restoring them (with their optimisers) from a
checkpoint: shared by every backend, so that all start from the same parameters."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..core.distributions import GaussianMixture
from ..core.nn import MLP


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or from another configuration."""


def build_networks(config: Config, mixture: GaussianMixture, rng) -> tuple[MLP, MLP]:
    """G and D as the run configures them, initialised from their own streams (every
    backend starts from these parameters). `rng` is one run's streams, a list of them (a
    population: member i initialised from rng[i], as the single run of its seed), or None
    (parameters left for the caller to fill)."""
    dtype = np.dtype(config.dtype)
    pieces = config.maxout_pieces
    members = rng if isinstance(rng, list) else [rng]
    P = len(members)
    G = MLP([config.noise_dim, *config.hidden, mixture.dim], config.g_activation, dtype=dtype,
            pieces=pieces, population=P, **({"batchnorm": True} if config.g_batchnorm else {}))
    d_hidden = config.d_hidden or config.hidden
    D = MLP([mixture.dim * config.pack, *d_hidden, 1], config.d_activation, dtype=dtype,
            dropout=config.dropout, pieces=pieces, population=P)
    if rng is not None:
        G.init([r["g_init"] for r in members])
        D.init([r["d_init"] for r in members])
    return G, D


def restore_networks(state: dict[str, np.ndarray], gan, assign) -> None:
    """Load gan's parameters and optimiser states from a checkpoint, checking shapes;
    `assign(target, host_array)` copies into the backend's array."""
    for key, target in (("g_params", gan.G.params), ("d_params", gan.D.params)):
        shape, dtype = tuple(state[key].shape), state[key].dtype
        if shape != tuple(target.shape) or dtype != target.dtype:
            raise CheckpointError(f"{key} has shape {shape} {dtype}, "
                                  f"expected {tuple(target.shape)} {target.dtype}")
        assign(target, state[key])
    for prefix, opt in (("opt_g", gan.opt_g), ("opt_d", gan.opt_d)):
        keys = opt.state_dict().keys()
        try:
            opt.load_state_dict({k: state[f"{prefix}.{k}"] for k in keys})
        except ValueError as err:
            raise CheckpointError(str(err)) from None
