"""Gaussian mixtures with exact log-density and sampling, and the named presets.

A mixture is p(x) = sum_k w_k N(x; mu_k, diag(s_k^2)) in any dimension. Everything that
touches densities works in log space (logsumexp over components), so points far from every
mode get a finite, very negative log-density instead of log(0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

LOG_2PI = math.log(2.0 * math.pi)
MAX_SPEC_BYTES = 256 << 20  # a mixture file: a few kilobytes, a huge one is a mistake


class MixtureSpecError(ValueError):
    """A mixture specification that cannot describe a distribution."""


def log_gaussian_components(
    x: np.ndarray, means: np.ndarray, stds: np.ndarray, log_weights: np.ndarray
) -> np.ndarray:
    """log w_k + log N(x; mu_k, diag s_k^2) for points (n, dim) and components, (n, K).

    The weights need not be normalised (quadrature restricted to nearby components uses a
    subset of a mixture's components with their original weights).
    """
    z = (x[:, None, :] - means[None, :, :]) / stds[None, :, :]
    log_norm = -0.5 * means.shape[1] * LOG_2PI - np.log(stds).sum(axis=1)
    return log_weights + log_norm - 0.5 * np.einsum("nkd,nkd->nk", z, z)


class GaussianMixture:
    """A mixture of axis-aligned Gaussians.

    means:   (K, dim) component means (a (K,) array is read as K 1-D components)
    stds:    a scalar, (K,) isotropic per component, or (K, dim) diagonal
    weights: (K,) non-negative, normalised here; None means equal weights
    """

    means: np.ndarray  # (K, dim)
    stds: np.ndarray  # (K, dim)
    weights: np.ndarray  # (K,), sums to 1
    name: str

    def __init__(self, means, stds, weights=None, name: str = "custom") -> None:
        # Own copies: the arrays are frozen below, and the caller's must stay writable.
        means = np.array(means, dtype=np.float64)
        if means.ndim == 1:
            means = means[:, None]
        if means.ndim != 2 or means.shape[0] == 0 or means.shape[1] == 0:
            raise MixtureSpecError(
                f"means must have shape (K, dim) with K, dim >= 1, got {means.shape}"
            )
        k, dim = means.shape
        stds = np.array(stds, dtype=np.float64)
        if stds.ndim == 0:
            stds = np.full((k, dim), float(stds))
        elif stds.ndim == 1 and stds.shape[0] == k:
            stds = np.repeat(stds[:, None], dim, axis=1)
        elif stds.shape != (k, dim):
            raise MixtureSpecError(
                f"stds must be a scalar, ({k},) or ({k}, {dim}) to match means, got {stds.shape}"
            )
        if weights is None:
            weights = np.full(k, 1.0 / k)
        weights = np.array(weights, dtype=np.float64)
        if weights.shape != (k,):
            raise MixtureSpecError(f"weights must have shape ({k},), got {weights.shape}")
        for label, arr in (("means", means), ("stds", stds), ("weights", weights)):
            if not np.all(np.isfinite(arr)):
                raise MixtureSpecError(f"{label} must be finite")
        if np.any(stds <= 0):
            raise MixtureSpecError(f"stds must be positive, got min {stds.min():g}")
        if np.any(weights < 0):
            raise MixtureSpecError(f"weights must be non-negative, got min {weights.min():g}")
        if not weights.max() > 0:
            raise MixtureSpecError("weights must sum to a positive number")
        weights = weights / weights.max()  # the sum of huge finite weights must not overflow
        total = weights.sum()
        for field, value in (
            ("means", means),
            ("stds", stds),
            ("weights", weights / total),
            ("name", name),
        ):
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, field, value)

    # ----------------------------------------------------------------- shape
    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    @property
    def n_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def modes(self) -> np.ndarray:
        """The component means, (K, dim)."""
        return self.means

    # --------------------------------------------------------------- density
    def component_log_prob(self, x: np.ndarray) -> np.ndarray:
        """log w_k + log N(x; mu_k, s_k) for every point and component, (n, K)."""
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        return log_gaussian_components(self._points(x), self.means, self.stds, log_w)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Exact log-density at each point, (n,)."""
        return logsumexp(self.component_log_prob(x), axis=1)

    def prob(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.log_prob(x))

    # -------------------------------------------------------------- sampling
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n independent draws, (n, dim) float64."""
        component = self.sample_components(n, rng)
        noise = rng.standard_normal((n, self.dim))
        return self.means[component] + self.stds[component] * noise

    def component_cdf(self) -> np.ndarray:
        """Cumulative component weights, the last one exactly 1 (inverse-CDF sampling)."""
        cdf = np.cumsum(self.weights)
        cdf[-1] = 1.0
        return cdf

    def sample_components(self, n: int, rng: np.random.Generator) -> np.ndarray:
        # Inverse-CDF on the cumulative weights: one uniform per draw.
        return np.searchsorted(self.component_cdf(), rng.random(n), side="right").clip(
            0, self.n_components - 1)

    # ----------------------------------------------------------------- modes
    def nearest_mode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each point's nearest mode and its std-normalised distance to it.

        The distance to mode k is || (x - mu_k) / s_k ||, the per-axis std-normalised rule of
        the PacGAN code; for isotropic components of equal std the nearest mode is also the
        Euclidean nearest one (VEEGAN's wording).
        """
        x = self._points(x)
        z = (x[:, None, :] - self.means[None, :, :]) / self.stds[None, :, :]
        dist2 = np.einsum("nkd,nkd->nk", z, z)
        index = np.argmin(dist2, axis=1)
        return index, np.sqrt(dist2[np.arange(len(x)), index])

    # ---------------------------------------------------------------- moments
    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        mu = self.mean()
        centred = self.means - mu
        within = np.einsum("k,kd->d", self.weights, self.stds**2)
        return np.diag(within) + np.einsum("k,kd,ke->de", self.weights, centred, centred)

    def bounds(self, margin: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
        """A box holding all but a negligible part of the mass (margin stds beyond modes)."""
        lo = (self.means - margin * self.stds).min(axis=0)
        hi = (self.means + margin * self.stds).max(axis=0)
        return lo, hi

    # ------------------------------------------------------------ conversion
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "means": self.means.tolist(),
            "stds": self.stds.tolist(),
            "weights": self.weights.tolist(),
        }

    @classmethod
    def from_dict(cls, spec: dict) -> GaussianMixture:
        if not isinstance(spec, dict):
            raise MixtureSpecError("a mixture spec must be a JSON object")
        unknown = set(spec) - {"name", "means", "stds", "weights"}
        if unknown:
            raise MixtureSpecError(f"unknown mixture fields: {', '.join(sorted(unknown))}")
        for field in ("means", "stds"):
            if field not in spec:
                raise MixtureSpecError(f"a mixture spec needs '{field}'")
        try:
            return cls(spec["means"], spec["stds"], spec.get("weights"), spec.get("name", "custom"))
        except (TypeError, ValueError) as err:
            if isinstance(err, MixtureSpecError):
                raise
            raise MixtureSpecError(f"bad mixture spec: {err}") from None

    def _points(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 and self.dim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {x.shape}")
        return x

    def __repr__(self) -> str:
        return f"GaussianMixture(name={self.name!r}, K={self.n_components}, dim={self.dim})"


# ------------------------------------------------------------------- presets
def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.02, name: str = "ring"):
    """n_modes equal-weight Gaussians evenly spaced on a circle.

    The angles are 2*pi*i/n for i = 0..n-1; `linspace(0, 2*pi, n)` would repeat the first
    angle at 2*pi and give only n-1 distinct modes.
    """
    angles = 2.0 * np.pi * np.arange(n_modes) / n_modes
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture(means, std, None, name)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05, name: str = "grid"):
    """side x side equal-weight Gaussians on a centred square grid."""
    axis = spacing * (np.arange(side) - (side - 1) / 2.0)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return GaussianMixture(np.stack([xx.ravel(), yy.ravel()], axis=1), std, None, name)


PRESETS: dict[str, tuple[str, Callable[[], GaussianMixture]]] = {
    "mixture8": (
        "8 Gaussians on a circle of radius 2, std 0.02 (the Unrolled-GAN ring)",
        lambda: ring(8, 2.0, 0.02, "mixture8"),
    ),
    "ring8_pacgan": (
        "the same ring scaled as in PacGAN: radius 1, std 0.01",
        lambda: ring(8, 1.0, 0.01, "ring8_pacgan"),
    ),
    "grid25": (
        "25 Gaussians on the grid {-4,-2,0,2,4}^2, std 0.05",
        lambda: grid(5, 2.0, 0.05, "grid25"),
    ),
    "gauss1d": (
        "N(4, 0.5^2): one 1-D Gaussian, as in the paper's Figure 1",
        lambda: GaussianMixture([[4.0]], 0.5, None, "gauss1d"),
    ),
    "bimodal1d": (
        "1-D: 0.3 N(-2, 0.5^2) + 0.7 N(2, 1^2)",
        lambda: GaussianMixture([[-2.0], [2.0]], [0.5, 1.0], [0.3, 0.7], "bimodal1d"),
    ),
    "trimodal1d": (
        "1-D: 0.2 N(-3, 0.3^2) + 0.5 N(0, 0.6^2) + 0.3 N(3, 0.4^2)",
        lambda: GaussianMixture(
            [[-3.0], [0.0], [3.0]], [0.3, 0.6, 0.4], [0.2, 0.5, 0.3], "trimodal1d"
        ),
    ),
}


def preset(name: str) -> GaussianMixture:
    """The named distribution; see PRESETS for the list."""
    try:
        return PRESETS[name][1]()
    except KeyError:
        raise MixtureSpecError(
            f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}"
        ) from None


def resolve(spec: str | dict) -> GaussianMixture:
    """A preset name, a path to a JSON mixture file, an inline JSON object, or a dict."""
    if isinstance(spec, dict):
        return GaussianMixture.from_dict(spec)
    text = spec.strip()
    if text.startswith("{"):
        try:
            return GaussianMixture.from_dict(json.loads(text))
        except json.JSONDecodeError as err:
            raise MixtureSpecError(f"inline mixture is not valid JSON: {err}") from None
        except RecursionError:
            raise MixtureSpecError("inline mixture is JSON nested too deeply") from None
    if text in PRESETS:
        return preset(text)
    path = Path(text)
    if path.suffix == ".json" or path.is_file():
        if path.exists() and (not path.is_file() or path.stat().st_size > MAX_SPEC_BYTES):
            raise MixtureSpecError(f"cannot read mixture file {path}: not a regular file of "
                                   f"at most {MAX_SPEC_BYTES:,} bytes")
        try:
            spec_dict = json.loads(path.read_text())
        except FileNotFoundError:
            raise MixtureSpecError(f"mixture file not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise MixtureSpecError(f"cannot read mixture file {path}: "
                                   f"{err or type(err).__name__}") from None
        mixture = GaussianMixture.from_dict(spec_dict)
        if "name" not in spec_dict:
            mixture = GaussianMixture(mixture.means, mixture.stds, mixture.weights, path.stem)
        return mixture
    return preset(text)
