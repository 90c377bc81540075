"""Modes: which mode each sample belongs to, coverage and quality under the published
rules (PacGAN's and VEEGAN's), and the mode-collapse detector over a run's evaluations."""

from __future__ import annotations

import math

import numpy as np

from .distributions import GaussianMixture

HIGH_QUALITY_STDS = 3.0
STRICT_COVERAGE_COUNT = 20


def _histogram_figures(counts: np.ndarray,
                       weights: np.ndarray) -> tuple[float | None, float | None]:
    """(reverse KL(h || w), entropy of h) of a histogram over modes, in nats; both None for
    an empty histogram (no high-quality sample: no distribution over modes)."""
    total = counts.sum()
    if total == 0:
        return None, None
    h = counts / total
    seen = h > 0
    reverse_kl = float(np.sum(h[seen] * np.log(h[seen] / weights[seen])))
    return reverse_kl, float(-np.sum(h[seen] * np.log(h[seen])))


def nearest_mode_euclidean(mixture: GaussianMixture, x: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """VEEGAN's wording: the Euclidean nearest mode, and the distance to it in units of that
    mode's std (its largest per-axis std when the component is not isotropic)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    d2 = sq_distances(x, mixture.means)
    index = np.argmin(d2, axis=1)
    dist = np.sqrt(d2[np.arange(len(x)), index])
    return index, dist / mixture.stds.max(axis=1)[index]


def mode_statistics(
    mixture: GaussianMixture,
    samples: np.ndarray,
    threshold: float = HIGH_QUALITY_STDS,
    strict_count: int = STRICT_COVERAGE_COUNT,
) -> dict:
    """Mode coverage and sample quality under both published rules.

    Main keys: the rule of the PacGAN code (`GaussianMixture.nearest_mode`): the nearest
    mode and the distance to it are measured in per-axis std units, ||(x - mu_k) / s_k||; a
    sample is *high quality* when that distance is below `threshold` (3); a mode is
    *covered* when at least one high-quality sample is nearest to it (`modes_covered`), or
    at least `strict_count` (20) of them (`modes_covered_20`).
    `*_veegan` keys: VEEGAN's wording, the Euclidean nearest mode within 3 std of it
    (`nearest_mode_euclidean`). Where every mode has one isotropic std (the ring and grid
    presets) the rules agree; the 1-D presets' modes differ in std, and so may the rules.
    `reverse_kl` is KL(h || w) of the histogram h of high-quality samples over modes against
    the true weights w (None when no sample is of high quality); `mode_entropy` is H(h) in
    nats (log K for a perfect generator with equal weights, 0 for total collapse; None as
    reverse_kl is);
    `mode_mass` is each mode's share of *all* samples (high-quality and nearest to it).
    """
    out: dict = {"modes_total": mixture.n_components}
    n = len(samples)
    for suffix, (index, dist) in (("", mixture.nearest_mode(samples)),
                                  ("_veegan", nearest_mode_euclidean(mixture, samples))):
        high_quality = dist < threshold
        counts = np.bincount(index[high_quality], minlength=mixture.n_components)
        reverse_kl, entropy = _histogram_figures(counts, mixture.weights)
        out[f"modes_covered{suffix}"] = int(np.count_nonzero(counts >= 1))
        out[f"high_quality_fraction{suffix}"] = int(counts.sum()) / n
        out[f"reverse_kl{suffix}"] = reverse_kl
        if not suffix:
            out[f"modes_covered_{strict_count}"] = int(np.count_nonzero(counts >= strict_count))
            out["mode_entropy"] = entropy
            out["mode_histogram"] = counts.tolist()
            out["mode_mass"] = (counts / n).tolist()
    return out


def sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, (len(a), len(b)), float64, never negative.

    |a|^2 + |b|^2 - 2 a.b is one matrix product, but it cancels badly far from the origin,
    so both sets are first centred on b's mean.
    """
    origin = b.mean(axis=0)
    a, b = a - origin, b - origin
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0, out=d2)



# ---------------------------------------------------------------- detector
COVERAGE_DROP_FRACTION = 0.1  # of all modes, at least one mode
ENTROPY_COLLAPSE = 0.5  # mode entropy / log K
HOPPING_SHARE = 0.5  # share of high-quality samples that makes a mode dominant


def collapse_events(previous: list[dict], current: dict) -> list[dict]:
    """Events of mode collapse flagged at `current`, given the evaluations before it.

    - coverage_drop: the modes covered by >= 20 samples (`modes_covered_20`: one stray
      sample neither makes nor breaks a mode) fell below the previous evaluation and lie at
      least max(1, 10 % of K) modes below the best so far;
    - entropy_collapse: the mode histogram's entropy fell below half of log K, from at or
      above it at the previous evaluation (K > 1; not when either evaluation has no
      high-quality sample, where the entropy is undefined);
    - mode_hopping: one mode holds at least half of the high-quality samples at both this
      and the previous evaluation, and it is not the same mode (the generator jumped).
    Each event is {"step", "kind", "detail"}; records without mode statistics (diverged
    markers) are skipped.
    """
    history = [r for r in previous if "mode_histogram" in r]
    if "mode_histogram" not in current or not history:
        return []
    last, step, events = history[-1], current["step"], []
    total = current["modes_total"]
    key = f"modes_covered_{STRICT_COVERAGE_COUNT}"
    best = max(r[key] for r in history)
    covered = current[key]
    margin = max(1, math.ceil(COVERAGE_DROP_FRACTION * total))
    if covered < last[key] and covered <= best - margin:
        events.append({"step": step, "kind": "coverage_drop",
                       "detail": f"modes covered by >= {STRICT_COVERAGE_COUNT} samples "
                                 f"{last[key]} -> {covered} (best so far {best})"})
    before, now = last.get("mode_entropy"), current.get("mode_entropy")
    if total > 1 and before is not None and now is not None:
        limit = ENTROPY_COLLAPSE * math.log(total)
        if now < limit <= before:
            events.append({"step": step, "kind": "entropy_collapse",
                           "detail": f"mode entropy {last['mode_entropy']:.3f} -> "
                                     f"{current['mode_entropy']:.3f} nats "
                                     f"(< {limit:.3f} = half of log {total})"})

    def dominant(record: dict) -> int | None:
        counts = np.asarray(record["mode_histogram"])
        if counts.sum() == 0:
            return None
        top = int(np.argmax(counts))
        return top if counts[top] >= HOPPING_SHARE * counts.sum() else None

    before, now = dominant(last), dominant(current)
    if before is not None and now is not None and before != now:
        events.append({"step": step, "kind": "mode_hopping",
                       "detail": f"dominant mode {before} -> {now}"})
    return events
