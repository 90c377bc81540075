"""Does the member axis cost the single run anything? (foundation issue, benchmark)

Times one Algorithm-1 iteration (k = 1) of toygan's engine at P = 1 against a plain
float32 NumPy implementation of the same step on 2-D arrays, written here without any
member axis, buffers or layer objects: the implementation a user would write by hand.
Same model (G: z 2 -> 128 -> 128 -> 2, D: 2 -> 128 -> 128 -> 1, ReLU), non-saturating
loss, Adam (lr 1e-3, betas 0.5/0.999), mixture8 data. Prints iterations/s (median of
repeats) and the ratio toygan / plain; ratio >= ~1 means the member axis is free.

    python bench/p1_overhead.py [--batches 64,256,512,4096] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
from scipy.special import expit

from toygan.config import Config
from toygan.core.distributions import preset
from toygan.gan.numpy_gan import GAN


class PlainStep:
    """The same iteration with 2-D arrays and no abstractions."""

    def __init__(self, gan: GAN) -> None:
        def unpack(mlp):
            out = []
            for layer, where in mlp.slices():
                flat = mlp.params[0, where]
                nw = layer.n_in * layer.n_out
                out.append([flat[:nw].reshape(layer.n_in, layer.n_out).copy(),
                            flat[nw:].copy()])
            return out

        self.g, self.d = unpack(gan.G), unpack(gan.D)
        self.mixture, self.batch = gan.mixture, gan.config.batch
        self.rng = np.random.default_rng(0)
        self.adam = {id(p): [np.zeros_like(p), np.zeros_like(p)] for layer in self.g + self.d
                     for p in layer}
        self.t = 0

    @staticmethod
    def forward(layers, x):
        acts = [x]
        for i, (w, b) in enumerate(layers):
            x = x @ w + b
            if i < len(layers) - 1:
                x = np.maximum(x, 0)
            acts.append(x)
        return acts

    @staticmethod
    def backward(layers, acts, g, param_grads=True):
        grads = []
        for i in range(len(layers) - 1, -1, -1):
            w, _ = layers[i]
            if i < len(layers) - 1:
                g = g * (acts[i + 1] > 0)
            if param_grads:
                grads.append((acts[i].T @ g, g.sum(0)))
            g = g @ w.T
        return g, grads[::-1]

    def adam_step(self, layers, grads, lr=1e-3, b1=0.5, b2=0.999, eps=1e-8):
        for (w, b), (gw, gb) in zip(layers, grads, strict=True):
            for p, g in ((w, gw), (b, gb)):
                m, v = self.adam[id(p)]
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                p -= lr / (1 - b1**self.t) * m / (np.sqrt(v / (1 - b2**self.t)) + eps)

    def iteration(self):
        m = self.batch
        self.t += 1
        real = self.mixture.sample(m, self.rng).astype(np.float32)
        z = self.rng.standard_normal((m, 2), dtype=np.float32)
        fake = self.forward(self.g, z)[-1]
        x = np.concatenate([real, fake])
        acts = self.forward(self.d, x)
        logits = acts[-1]
        grad = np.concatenate([-expit(-logits[:m]), expit(logits[m:])]) / m
        _, grads = self.backward(self.d, acts, grad)
        self.adam_step(self.d, grads)
        z = self.rng.standard_normal((m, 2), dtype=np.float32)
        g_acts = self.forward(self.g, z)
        d_acts = self.forward(self.d, g_acts[-1])
        grad = -expit(-d_acts[-1]) / m
        dx, _ = self.backward(self.d, d_acts, grad, param_grads=False)
        _, grads = self.backward(self.g, g_acts, dx)
        self.adam_step(self.g, grads)


def its_per_second(step, seconds: float = 0.6, repeats: int = 5) -> list[float]:
    for _ in range(20):  # warm-up: buffers, caches, BLAS threads
        step()
    rates = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            step()
            n += 1
        rates.append(n / (time.perf_counter() - t0))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="64,256,512,4096")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        config = Config(batch=batch)
        config.validate()
        gan = GAN(config, preset("mixture8"))
        plain = PlainStep(gan)
        # Interleave the contestants so drifts of the machine hit both alike.
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours += its_per_second(gan.iteration, repeats=1)
            theirs += its_per_second(plain.iteration, repeats=1)
        row = {
            "batch": batch,
            "toygan_P1_its": float(np.median(ours)),
            "plain_2d_its": float(np.median(theirs)),
            "toygan_min_max": [min(ours), max(ours)],
            "plain_min_max": [min(theirs), max(theirs)],
        }
        row["ratio"] = row["toygan_P1_its"] / row["plain_2d_its"]
        rows.append(row)
        print(f"batch {batch:5d}: toygan P=1 {row['toygan_P1_its']:8.1f} it/s   "
              f"plain 2-D {row['plain_2d_its']:8.1f} it/s   ratio {row['ratio']:.2f}")
    print(json.dumps({"machine": platform.processor() or platform.machine(),
                      "numpy": np.__version__, "rows": rows}))


if __name__ == "__main__":
    main()
