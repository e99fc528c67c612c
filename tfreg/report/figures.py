"""The report's PNG figures (matplotlib, Agg): per-epoch curves over seeds, accuracy against the
dropout probability, and heatmaps of the grids (BN stages x dropout stages; AGC clip x batch size).

Each function takes arms as {name: [Entry, ...]} (finished runs only), writes one or more PNGs into
`out` and returns their file names, or [] with nothing written when the data do not support the
figure. PNGs carry no software or date metadata, so a regenerated figure is byte-identical.
"""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfreg.report import collect, stats  # noqa: E402

BAND = "shaded: ±1 sample std over seeds"
PNG_METADATA = {"Software": None}


def _save(fig, out, name):
    """Writes the PNG under a temporary name and renames it into place (never a partial PNG)."""
    fig.tight_layout()
    tmp = out / f".{name}.tmp"
    try:
        fig.savefig(tmp, dpi=100, metadata=PNG_METADATA, format="png")
        os.replace(tmp, out / name)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return name


def per_epoch(entries, value):
    """epochs, mean, std (NaN where fewer than 2 runs reach the epoch) of value(row) over runs."""
    by_epoch = {}
    for e in entries:
        for r in e.run.history:
            v = value(r)
            if v is not None:
                by_epoch.setdefault(r["epoch"], []).append(v)
    epochs = sorted(by_epoch)
    mean = np.array([np.mean(by_epoch[k]) for k in epochs])
    std = np.array([np.std(by_epoch[k], ddof=1) if len(by_epoch[k]) > 1 else np.nan for k in epochs])
    return np.array(epochs), mean, std


def _curves(arms, out, name, value, ylabel, title, band=True, logy=False, label=None):
    """One line per arm of value(arm, row) averaged over its runs, with a ±1 std band."""
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    for i, (arm, entries) in enumerate(arms.items()):
        epochs, mean, std = per_epoch(entries, lambda r: value(arm, r))
        if not len(epochs):
            continue
        drawn = True
        colour, style = f"C{i % 10}", ("-", "--", ":", "-.")[(i // 10) % 4]
        ax.plot(epochs, mean, color=colour, linestyle=style, linewidth=1.5,
                label=label(arm, entries) if label else f"{arm} (n={len(entries)})")
        if band and np.isfinite(std).any():
            ax.fill_between(epochs, mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)
    if not drawn:
        plt.close(fig)
        return []
    if band:
        ax.fill_between([], [], [], color="grey", alpha=0.3, label=BAND)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return [_save(fig, out, name)]


def held_out(entries):
    """'val' when every run has a validation column, else 'test'."""
    return "val" if all(any(r.get("val_accuracy") is not None for r in e.run.history)
                        for e in entries) else "test"


def test_accuracy(arms, out):
    return _curves(arms, out, "test_accuracy.png", lambda arm, r: _pct(r.get("test_accuracy")),
                   "test accuracy (%)", "Test accuracy per epoch, mean over seeds")


def learning_rate(arms, out):
    lrs = [r["lr"] for es in arms.values() for e in es for r in e.run.history if r.get("lr")]
    logy = bool(lrs) and min(lrs) > 0 and max(lrs) / min(lrs) > 50
    return _curves(arms, out, "lr.png", lambda arm, r: r.get("lr"),
                   "learning rate (first step of the epoch)", "Learning rate per epoch",
                   band=False, logy=logy)


def gap(arms, out):
    split = {arm: held_out(entries) for arm, entries in arms.items()}

    def value(arm, r):
        a, h = r.get("accuracy"), r.get(f"{split[arm]}_accuracy")
        return None if a is None or h is None else 100 * (a - h)

    written = _curves(arms, out, "gap.png", value,
                      f"train - {'/'.join(sorted(set(split.values())))} accuracy (points)",
                      "Generalization gap per epoch (train minus held-out accuracy)",
                      label=lambda arm, es: f"{arm} ({split[arm]}, n={len(es)})")
    return written


def accuracy_vs_dropout(arms, out, accuracy):
    """Final test accuracy against the symmetric dropout probability, one series per (dropout
    stages, batch-norm stages); runs of arms that share a point are pooled. Drawn when at least two
    probabilities > 0 occur. `accuracy(entries)` gives an arm's per-run accuracies (fractions)."""
    points = {}
    for arm, entries in arms.items():
        f = collect.features(entries[0].run.flags)
        if f["dropout_prob"] is None:
            continue
        key = (f["dropout_stages"], f["bn_stages"])
        points.setdefault(key, {}).setdefault(f["dropout_prob"], []).extend(accuracy(entries))
    probs = {p for series in points.values() for p in series if p > 0}
    if len(probs) < 2:
        return []
    bn_varies = len({bn for _, bn in points}) > 1
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, (stages, bn) in enumerate(sorted(points)):
        series = points[(stages, bn)]
        x = sorted(series)
        d = [stats.describe(series[p]) for p in x]
        err = [0 if math.isnan(s["std"]) else 100 * s["std"] for s in d]
        label = "no dropout" if stages == 0 else f"dropout after {stages} stage(s)"
        label += f", BN in {bn} stage(s)" if bn_varies else ""
        ax.errorbar(x, [100 * s["mean"] for s in d], yerr=err, marker="o", capsize=3,
                    color=f"C{i % 10}", linestyle=("-", "--", ":", "-.")[(i // 10) % 4], label=label)
    ax.set_xlabel("dropout probability (same in every stage with dropout)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("Accuracy against dropout probability\n(error bars: ±1 sample std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return [_save(fig, out, "accuracy_vs_dropout.png")]


def _heatmap(cells, xs, ys, xlabel, ylabel, title, fmt, out, name, cmap):
    grid = np.full((len(ys), len(xs)), np.nan)
    for (x, y), v in cells.items():
        grid[ys.index(y), xs.index(x)] = v
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.9 * len(ys) + 2))
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, origin="lower", aspect="auto")
    ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
    for (j, i), v in np.ndenumerate(grid):
        if not math.isnan(v):
            ax.text(i, j, fmt(v), ha="center", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
    return _save(fig, out, name)


def grid_cells(arms, x_key, y_key, axis_flags, facet_key=None, where=None):
    """{facet: {(x, y): entries}} of the arms that form a grid: only arms that differ in nothing but
    `axis_flags` (the largest such set), so an arm that also changes, say, augmentation does not
    land in a cell; arms whose facet value is 0 (no dropout) belong to every facet. Facets whose x
    or y takes fewer than two values are left out."""
    groups = {}
    for entries in arms.values():
        f = collect.features(entries[0].run.flags)
        if where is None or where(f):
            flags = entries[0].run.flags
            rest = tuple((k, collect.flag_text(flags[k])) for k in sorted(flags)
                         if k not in collect.NOT_ARM_FLAGS | set(axis_flags))
            groups.setdefault(rest, []).append((f, entries))
    if not groups:
        return {}
    members = groups[max(sorted(groups), key=lambda k: len(groups[k]))]
    facets = [None]
    if facet_key:
        found = {f[facet_key] for f, _ in members}
        facets = sorted(found - {0.0, None}) + ([None] if None in found else []) or [0.0]
    out = {}
    for facet in facets:
        cells = {}
        for f, entries in members:
            if facet_key is None or f[facet_key] in (facet, 0.0):
                cells.setdefault((f[x_key], f[y_key]), []).extend(entries)
        if len({x for x, _ in cells}) > 1 and len({y for _, y in cells}) > 1:
            out[facet] = cells
    return out


def grid_heatmaps(arms, out, x_key, y_key, labels, metrics, prefix, axis_flags, facet_key=None,
                  where=None):
    """One heatmap of the arms' means over (x, y) per metric and facet (grid_cells).
    metrics: ((name, per-run values(entries), title, fmt), ...)."""
    written = []
    for facet, cells in grid_cells(arms, x_key, y_key, axis_flags, facet_key, where).items():
        xs, ys = sorted({x for x, _ in cells}), sorted({y for _, y in cells})
        suffix = "" if facet_key is None else (f"_p{facet:g}" if facet is not None else "_asymmetric")
        facet_text = "" if facet_key is None else (
            f", dropout p={facet:g}" if facet is not None else ", asymmetric dropout")
        for metric, per_run, title, fmt in metrics:
            means = {k: stats.describe(per_run(v))["mean"] for k, v in cells.items()}
            means = {k: v for k, v in means.items() if not math.isnan(v)}
            if means:
                written.append(_heatmap(means, xs, ys, labels[0], labels[1],
                                        f"{title}{facet_text} (mean over seeds)", fmt, out,
                                        f"{prefix}_{metric}{suffix}.png", "viridis"))
    return written


def _pct(v):
    return None if v is None else 100 * v


def forest(rows, out, name="forest.png", title="Effects against the document's claims",
           documented=True):
    """One row per claimed comparison (report rows with a baseline and a reference; every row
    with a baseline when not `documented`): our effect in points with its 95% interval, coloured
    by verdict, the document's direction in the label, the ±1-point equivalence margin as a grey
    band. Intervals beyond ±LIMIT points are cut at the edge with a triangle. [] when no row has
    an effect."""
    rows = [r for r in rows if r.get("baseline") and (r.get("reference") or not documented)
            and not math.isnan(r.get("delta", math.nan))]
    if not rows:
        return []
    limit = 20.0
    fig, ax = plt.subplots(figsize=(11, 1.0 + 0.3 * len(rows)))
    ax.axvspan(-100 * stats.MARGIN, 100 * stats.MARGIN, color="0.88", linewidth=0)
    ax.axvline(0, color="0.4", linewidth=0.8)
    colours = {"agrees": "C2", "disagrees": "C3", "equivalent": "C0", "inconclusive": "0.45",
               "higher": "C2", "lower": "C3"}
    labels = []
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        colour = colours.get(r["verdict"], "0.45")
        clip = lambda v: max(-limit, min(limit, 100 * v))  # noqa: E731
        low, high = r["delta_ci_low"], r["delta_ci_high"]
        if not math.isnan(low):
            ax.plot([clip(low), clip(high)], [y, y], color=colour, linewidth=2)
            for end, marker in ((low, "<"), (high, ">")):
                if abs(100 * end) > limit:
                    ax.plot([clip(end)], [y], marker, color=colour, markersize=5)
        ax.plot([clip(r["delta"])], [y], "o", color=colour, markersize=5)
        if documented:
            claim = stats.claimed_delta(r["reference"], r["paper_delta"])
            labels.append(f"{r['arm']} vs {r['baseline']}: document {'+' if claim > 0 else '-'}, "
                          f"ours {r['verdict']}")
        else:
            labels.append(f"{r['arm']} vs {r['baseline']}: {r['verdict']}")
    ax.set_xlim(-limit - 1, limit + 1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(list(reversed(labels)), fontsize=8)
    ax.set_xlabel("our effect (points of test accuracy, 95% interval)")
    ax.set_title(title, fontsize=10)
    return [_save(fig, out, name)]
