"""Figure 1: at the end of training D(x) = 1/2 and p_g = p_data.

Claim (Goodfellow et al. 2014, Figure 1 (d)): "After several steps of training, if G and
D have enough capacity, they will reach a point at which both cannot improve because
p_g = p_data. The discriminator is unable to differentiate between the two distributions,
i.e. D(x) = 1/2."
Setup: Algorithm 1 (`Trainer`) on gauss1d = N(4, 0.5^2), z ~ U(-1, 1) (noise_dim 1),
G and D 32 -> 32 ReLU, batch 128, k = 2, Adam lr_d 1e-3, lr_g 2e-4, 2000 steps (quick).
Measured: max |D(x) - 1/2| over x in [mu - 2 sigma, mu + 2 sigma] and the run's JSD
estimate (nats, p_data vs a KDE of G's samples; it starts at ~log 2 = 0.69).
Tolerance: max |D - 1/2| < 0.15 and JSD estimate < 0.25.
Measured when written: seed 0, 2000 steps: 0.047 and 0.064; 4000 steps: 0.022 and 0.081;
seeds 1, 2 (2000 steps): 0.027 / 0.163 and 0.023 / 0.092. The JSD estimate has a floor
from the KDE (G pushes uniform noise through ReLUs: a support with hard edges).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402

from toygan.claims import training


def test_figure1_end_state_and_plot(tmp_path):
    config = training.figure1_config(quick=True)
    s = config.steps
    summary, snaps = training.run_figure1(config, tmp_path / "run", (0, s // 10, s // 3, s))
    p_data = training.preset("gauss1d")
    assert [snap.step for snap in snaps] == [0, s // 10, s // 3, s]
    # Not true at the start: D begins far from 1/2 on the data.
    assert training.figure1_measure(snaps[0], p_data) > training.FIG1_D_TOL
    assert training.figure1_measure(snaps[-1], p_data) < training.FIG1_D_TOL
    assert summary["jsd_estimate"] < training.FIG1_JSD_TOL

    path = training.figure1(snaps, p_data, tmp_path / "figure1.png")
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 1200
    rgb = image[..., :3]
    assert rgb.std() > 0.05  # not blank
    assert np.mean(rgb.min(axis=2) < 0.9) > 0.01  # ink on a noticeable share of pixels
