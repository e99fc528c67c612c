"""Statistics over seeds: mean, sample standard deviation, Student t intervals, Welch's interval
for a difference of means, and the one-word verdict against a reference delta.

scipy.stats is imported inside the functions: it takes about a second, and `python -m
tfreg.report` answers bad input before it needs it.
"""

import math

import numpy as np

CONFIDENCE = 0.95


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


def verdict(low, high, reference_delta):
    """agrees / disagrees when our interval excludes 0 (same / opposite sign as the reference);
    inconclusive when it contains 0; n/a without an interval or a signed reference."""
    if _isnan(low) or _isnan(high) or reference_delta is None or _isnan(reference_delta) \
            or reference_delta == 0:
        return "n/a"
    if low <= 0 <= high:
        return "inconclusive"
    return "agrees" if (low > 0) == (reference_delta > 0) else "disagrees"


def points(v):
    """A difference of accuracies as signed percentage points: 0.0633 -> '+6.33'; '—' if missing."""
    return "—" if v is None or _isnan(float(v)) else f"{100 * v:+.2f}"


def _isnan(v):
    return isinstance(v, float) and math.isnan(v)
