"""The report's statistics (issue 23) against independent computations on fixed numbers: the
paired interval, the two one-sided tests (paired and Welch), the seeds a power analysis asks for
(checked with the noncentral t distribution directly), and the verdict rules."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from tfreg.report import stats

ARM = {0: 0.812, 1: 0.805, 2: 0.821, 3: 0.809, 4: 0.815}
BASE = {0: 0.801, 1: 0.799, 2: 0.806, 3: 0.800, 4: 0.811}


def _diffs():
    return np.array([ARM[k] - BASE[k] for k in sorted(ARM)])


def test_paired_interval_is_the_t_interval_of_the_per_seed_differences():
    d = _diffs()
    half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    delta, low, high, n = stats.paired_delta(ARM, {**BASE, 9: 0.5})  # seed 9 has no pair
    assert n == 5
    assert delta == pytest.approx(d.mean(), abs=1e-12)
    assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)


def _tost_manual(mean, se, df, margin):
    lower = sps.t.sf((mean + margin) / se, df)   # H0: effect <= -margin
    upper = sps.t.cdf((mean - margin) / se, df)  # H0: effect >= +margin
    return max(lower, upper)


def test_paired_equivalence_is_two_one_sided_t_tests_on_the_differences():
    d = _diffs()
    se = d.std(ddof=1) / math.sqrt(len(d))
    for margin in (0.01, 0.02, 0.005):
        expected = _tost_manual(d.mean(), se, len(d) - 1, margin)
        assert stats.equivalence_p(ARM, BASE, paired=True, margin=margin) == pytest.approx(expected, rel=1e-9)


def test_welch_equivalence_uses_welch_satterthwaite_degrees_of_freedom():
    a, b = np.array(list(ARM.values())), np.array([0.80, 0.79, 0.815, 0.805])
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    expected = _tost_manual(a.mean() - b.mean(), se, df, 0.01)
    got = stats.equivalence_p(ARM, dict(enumerate(b)), paired=False, margin=0.01)
    assert got == pytest.approx(expected, rel=1e-9)


def _power_paired(n, effect):
    """Two-sided one-sample t test power at 5% for a standardized effect, from the noncentral t."""
    df, nc = n - 1, effect * math.sqrt(n)
    crit = sps.t.ppf(0.975, df)
    return sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)


def _power_one_sided_ind(n, effect):
    df, nc = 2 * n - 2, effect * math.sqrt(n / 2)
    return sps.nct.sf(sps.t.ppf(0.95, df), df, nc)


def test_seeds_needed_is_the_smallest_n_with_80_percent_power():
    delta, sd = 0.006, 0.005
    sign, equivalence = stats.seeds_needed(delta, sd, paired=True)
    assert _power_paired(sign, delta / sd) >= 0.8 > _power_paired(sign - 1, delta / sd)
    # equivalence, the binding one-sided test: (margin - |delta|) / sd, one-sided, paired
    e = (0.01 - delta) / sd
    one_sided = lambda n: sps.nct.sf(sps.t.ppf(0.95, n - 1), n - 1, e * math.sqrt(n))  # noqa: E731
    assert one_sided(equivalence) >= 0.8 > one_sided(equivalence - 1)
    _, ind = stats.seeds_needed(0.007, 0.004, paired=False)  # per arm, (0.01 - 0.007) / 0.004
    assert _power_one_sided_ind(ind, 0.75) >= 0.8 > _power_one_sided_ind(ind - 1, 0.75)


def test_seeds_needed_says_when_no_number_of_seeds_would_do():
    assert stats.seeds_needed(0.0, 0.01, paired=True)[0] is None        # no effect: no sign
    assert stats.seeds_needed(0.02, 0.01, paired=True)[1] is None       # outside the margin
    assert stats.seeds_needed(0.0001, 0.05, paired=True)[0] == stats.MAX_SEEDS + 1
    assert stats.seeds_needed(0.01, math.nan, paired=True) == (None, None)


def test_verdicts():
    assert stats.verdict(0.002, 0.01, 0.03) == "agrees"
    assert stats.verdict(-0.01, -0.002, 0.03) == "disagrees"
    assert stats.verdict(-0.004, 0.006, 0.03, equivalence_pvalue=0.01) == "equivalent"
    assert stats.verdict(-0.004, 0.006, 0.03, equivalence_pvalue=0.2) == "inconclusive"
    assert stats.verdict(-0.004, 0.006, 0.03) == "inconclusive"
    assert stats.verdict(math.nan, math.nan, 0.03) == "n/a"
    assert stats.verdict(0.002, 0.01, None) == "n/a"
    # an interval that excludes 0 decides by direction even inside the margin
    assert stats.verdict(0.001, 0.004, -0.02, equivalence_pvalue=0.001) == "disagrees"


def test_verdicts_without_a_document_and_claimed_directions():
    assert stats.direction(0.002, 0.01) == "higher"
    assert stats.direction(-0.01, -0.002, equivalence_pvalue=0.001) == "lower"
    assert stats.direction(-0.004, 0.006, equivalence_pvalue=0.01) == "equivalent"
    assert stats.direction(-0.004, 0.006, equivalence_pvalue=0.2) == "inconclusive"
    assert stats.direction(math.nan, math.nan) == "n/a"
    assert stats.claimed_delta("claim: higher", math.nan) == 1.0
    assert stats.claimed_delta("claim: lower", math.nan) == -1.0
    assert stats.claimed_delta("paper", -0.02) == -0.02
    assert stats.verdict(0.002, 0.01, stats.claimed_delta("claim: lower", math.nan)) == "disagrees"
