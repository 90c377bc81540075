"""Every claim of toygan.claims_analytic passes its quick check (the verify run's view).

Claims: those of proofs/test_lemma_prop1.py ... test_wgan.py, each measured on fixed seeded
mixtures. Measured: ClaimResult.passed and a finite figure; tolerance: each claim's own.
Measured when written: all 8 pass in 5.6-7.1 s together (quick);
the full set in 38 s.
"""

from __future__ import annotations

import math

import pytest

from toygan.claims import ClaimResult
from toygan.claims.analytic import CLAIMS


def test_claim_ids_are_unique():
    assert len({c.name for c in CLAIMS}) == len(CLAIMS) == 8


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.name)
def test_quick_check_passes(claim, tmp_path):
    result = claim.check(True, tmp_path)
    assert isinstance(result, ClaimResult) and result.name == claim.name
    assert math.isfinite(result.measured) and result.tolerance
    assert result.passed, result
    for figure in result.figures:
        assert (tmp_path / figure).is_file()
