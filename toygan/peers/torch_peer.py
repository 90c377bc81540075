"""The PyTorch peer: the benchmark's GAN in torch (eager, torch.compile, or one CUDA graph
per iteration), with toygan's initial parameters copied in."""

from __future__ import annotations

from ..gan.factory import resolve
from ..gan.networks import build_networks
from ..gan.streams import random_streams
from .clocks import HostClock, TorchClock
from .workload import workload


def torch_network(mlp, device: str = "cpu"):
    """A toygan ReLU MLP as torch.nn.Sequential with the same parameters (W transposed:
    torch keeps (out, in))."""
    import torch

    layers = []
    for layer, where in mlp.slices():
        lin = torch.nn.Linear(layer.n_in, layer.n_out)
        flat = mlp.params[0, where]
        nw = layer.n_in * layer.n_out
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(flat[:nw].reshape(layer.n_in, layer.n_out).T))
            lin.bias.copy_(torch.from_numpy(flat[nw:]))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).to(device)


def torch_step(batch: int, device: str, variant: str = "eager"):
    """PyTorch's iteration: `eager`; `compile` (torch.compile of G and D, compiled during
    the warm-up); `graphs` (the whole iteration, both optimiser steps included, captured
    once in a CUDA graph and replayed; Adam with capturable=True, as graph capture needs)."""
    import torch

    config = workload(batch)
    mixture = resolve(config)
    # toygan's initial parameters (the same streams as its own run), copied below
    host_g, host_d = build_networks(config, mixture, random_streams(config.seed)[1])
    G, D = torch_network(host_g, device), torch_network(host_d, device)
    graphs = variant == "graphs"
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(0.5, 0.999),
                             capturable=graphs)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=(0.5, 0.999),
                             capturable=graphs)
    if variant == "compile":
        G, D = torch.compile(G), torch.compile(D)
    means = torch.tensor(mixture.means, dtype=torch.float32, device=device)
    std = float(mixture.stds[0, 0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)
    target_d = torch.cat([ones, zeros])

    def step() -> None:
        component = torch.randint(0, len(means), (batch,), device=device)
        real = means[component] + std * torch.randn(batch, 2, device=device)
        fake = G(torch.randn(batch, config.noise_dim, device=device))
        loss_d = bce(D(torch.cat([real, fake.detach()])), target_d) * 2.0  # sum of two means
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        fake = G(torch.randn(batch, config.noise_dim, device=device))
        loss_g = bce(D(fake), ones)  # non-saturating: -log D(G(z))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    clock = TorchClock() if device == "cuda" else HostClock()
    if not graphs:
        return step, clock
    side = torch.cuda.Stream()  # warm up on a side stream, as capture requires
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay, clock
