"""Statistics over seeds: mean, sample standard deviation, Student t intervals, the effect of an
arm against its comparison arm (a paired interval over shared seeds, or Welch's), the equivalence
test, the seeds a power analysis asks for, and the one-word verdict.

Verdicts (fixed before any study was run again, issue 23; DESIGN.md): `agrees` / `disagrees` when
the 95% interval of our effect excludes 0 with the document's / the opposite sign; `equivalent`
when two one-sided t tests at 5% place the effect within +-MARGIN (1 point of test accuracy, one
margin for every study); `inconclusive` otherwise, with the seeds that would settle it at 80%
power. scipy.stats and statsmodels (TOST: `ttost_paired` / `ttost_ind`; power: `TTestPower` /
`TTestIndPower`) are imported inside the functions: they take about a second, and `python -m
tfreg.report` answers bad input before it needs them.
"""

import math
import warnings

import numpy as np

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
MARGIN = 0.01      # the equivalence margin: +-1 point of test accuracy, every study
POWER = 0.8        # the power a "seeds needed" figure is computed for
MAX_SEEDS = 1000   # beyond this a power analysis answers "more than 1000"


def describe(values):
    """{mean, std (ddof=1), n, ci_low, ci_high} of the non-missing values (NaN where undefined)."""
    x = np.asarray([v for v in values if v is not None and not _isnan(v)], dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    low = high = math.nan
    if n > 1:
        if std == 0:
            low = high = mean
        else:
            from scipy import stats
            low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=std / math.sqrt(n))
    return {"mean": mean, "std": std, "n": n, "ci_low": float(low), "ci_high": float(high)}


def welch_delta(arm, baseline):
    """mean(arm) - mean(baseline) with Welch's t interval: (delta, low, high); NaN bounds when a
    side has fewer than two values. Both sides constant: the interval is the point itself."""
    a = np.asarray([v for v in arm if v is not None and not _isnan(v)], dtype=float)
    b = np.asarray([v for v in baseline if v is not None and not _isnan(v)], dtype=float)
    if not len(a) or not len(b):
        return math.nan, math.nan, math.nan
    delta = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return delta, math.nan, math.nan
    if a.var(ddof=1) == 0 and b.var(ddof=1) == 0:
        return delta, delta, delta
    from scipy import stats
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(CONFIDENCE)
    return delta, float(ci.low), float(ci.high)


def _clean(values):
    return {k: float(v) for k, v in values.items() if v is not None and not _isnan(v)}


def paired_delta(arm, baseline):
    """Mean of the per-seed differences arm[s] - baseline[s] over the seeds both have, with the
    paired (one-sample t on the differences) 95% interval: (delta, low, high, n pairs)."""
    a, b = _clean(arm), _clean(baseline)
    diffs = np.asarray([a[k] - b[k] for k in sorted(set(a) & set(b))])
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    delta = float(diffs.mean())
    if n < 2:
        return delta, math.nan, math.nan, n
    if diffs.std(ddof=1) == 0:
        return delta, delta, delta, n
    from scipy import stats
    ci = stats.ttest_1samp(diffs, 0.0).confidence_interval(CONFIDENCE)
    return delta, float(ci.low), float(ci.high), n


def equivalence_p(arm, baseline, paired, margin=MARGIN):
    """p-value of the two one-sided tests that the effect lies within +-margin (statsmodels'
    ttost_paired on the shared seeds, or ttost_ind with unequal variances); NaN when undefined."""
    a, b = _clean(arm), _clean(baseline)
    if paired:
        seeds = sorted(set(a) & set(b))
        x, y = np.asarray([a[k] for k in seeds]), np.asarray([b[k] for k in seeds])
        if len(seeds) < 2 or np.std(x - y) == 0:
            return math.nan
        from statsmodels.stats.weightstats import ttost_paired
        return float(ttost_paired(x, y, -margin, margin)[0])
    x, y = np.asarray(list(a.values())), np.asarray(list(b.values()))
    if len(x) < 2 or len(y) < 2 or (x.var(ddof=1) == 0 and y.var(ddof=1) == 0):
        return math.nan
    from statsmodels.stats.weightstats import ttost_ind
    return float(ttost_ind(x, y, -margin, margin, usevar="unequal")[0])


def effect_sd(arm, baseline, paired):
    """The spread a power analysis uses: the sd of the paired differences, or the pooled sd."""
    a, b = _clean(arm), _clean(baseline)
    if paired:
        diffs = [a[k] - b[k] for k in set(a) & set(b)]
        return float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan
    x, y = np.asarray(list(a.values())), np.asarray(list(b.values()))
    if len(x) < 2 or len(y) < 2:
        return math.nan
    return float(math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2))


def seeds_needed(delta, sd, paired, margin=MARGIN):
    """(seeds to resolve the sign, seeds to show equivalence) per arm at 80% power and 5%, for the
    observed effect and spread (statsmodels' TTestPower on paired differences, TTestIndPower per
    arm otherwise); None where it cannot be had (a zero effect for the sign; an effect outside the
    margin for equivalence), MAX_SEEDS + 1 beyond MAX_SEEDS. Equivalence is computed for the one
    of the two one-sided tests that binds (the side nearer the effect), an approximation that
    slightly under-counts when the effect is near 0."""
    if _isnan(delta) or _isnan(sd) or sd <= 0:
        return None, None
    from statsmodels.stats.power import TTestIndPower, TTestPower
    solver = TTestPower() if paired else TTestIndPower()

    def solve(effect, alternative):
        if effect <= 0:
            return None
        try:
            with warnings.catch_warnings():  # far outside its range the root finder warns, gives nan
                warnings.simplefilter("ignore")
                n = solver.solve_power(effect_size=effect, alpha=ALPHA, power=POWER,
                                       alternative=alternative)
        except Exception:  # noqa: BLE001 - statsmodels' root finder fails far outside its range
            return MAX_SEEDS + 1
        n = float(np.atleast_1d(n)[0])
        return MAX_SEEDS + 1 if not math.isfinite(n) or n > MAX_SEEDS else max(2, math.ceil(n))

    return solve(abs(delta) / sd, "two-sided"), solve((margin - abs(delta)) / sd, "larger")


def verdict(low, high, reference_delta, equivalence_pvalue=math.nan):
    """agrees / disagrees when our interval excludes 0 (same / opposite sign as the reference);
    else equivalent when the two one-sided tests reject at 5% (effect within +-MARGIN); else
    inconclusive; n/a without an interval or a signed reference."""
    if _isnan(low) or _isnan(high) or reference_delta is None or _isnan(reference_delta) \
            or reference_delta == 0:
        return "n/a"
    if low <= 0 <= high:
        p = equivalence_pvalue
        return "equivalent" if p is not None and not _isnan(p) and p < ALPHA else "inconclusive"
    return "agrees" if (low > 0) == (reference_delta > 0) else "disagrees"


def direction(low, high, equivalence_pvalue=math.nan):
    """The verdict without a claimed direction (a report of a sweep against --baseline): higher /
    lower when our interval excludes 0 above / below; else equivalent or inconclusive as in
    `verdict`; n/a without an interval."""
    said = verdict(low, high, 1.0, equivalence_pvalue)
    return {"agrees": "higher", "disagrees": "lower"}.get(said, said)


def claimed_delta(reference, paper_delta):
    """The signed reference a verdict compares with: +-1 for a claimed direction (a report row's
    reference 'claim: higher' / 'claim: lower'), else the document's delta."""
    if reference.startswith("claim"):
        return -1.0 if reference.endswith("lower") else 1.0
    return paper_delta


def points(v):
    """A difference of accuracies as signed percentage points: 0.0633 -> '+6.33'; '—' if missing."""
    return "—" if v is None or _isnan(float(v)) else f"{100 * v:+.2f}"


def _isnan(v):
    return isinstance(v, float) and math.isnan(v)
