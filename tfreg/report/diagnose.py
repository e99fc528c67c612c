"""Learning-curve diagnosis, the lecture's step 6 (seed 004, "Look at learning curves"): label a
run over-fitting, under-fitting, still improving or fine from the gap between training and
held-out accuracy and the trend of the EMA-smoothed held-out loss.

Held-out is the validation split when the run has one, else the test set. Rules, in order:
0. not learning (when the number of classes is known): the held-out accuracy never rose more than
   CHANCE_MARGIN above chance (1 / classes) in any epoch; the lecture's step 2 ("loss not going
   down? learning rate too low, bad initialization"), and nothing else about the run means much;
1. over-fitting: the smoothed held-out loss ends more than RISE above its minimum (it turned up
   while training went on), or the final accuracy gap exceeds GAP_HUGE ("huge train / val gap");
2. still improving: over the last quarter of the epochs the smoothed held-out loss fell by more
   than IMPROVING (relative), or the smoothed held-out accuracy rose by more than IMPROVING;
3. under-fitting: the gap is below GAP_NONE ("no gap between train / val");
4. fine: a moderate gap and a held-out curve that has levelled off.
"""

from tfreg.plots import ema

GAP_HUGE = 0.05     # 5 accuracy points
GAP_NONE = 0.01     # 1 accuracy point
RISE = 0.05         # 5% above the minimum of the smoothed held-out loss
IMPROVING = 0.01    # 1% drop of the smoothed loss (or 1 point of accuracy) over the last quarter
CHANCE_MARGIN = 0.02  # 2 accuracy points above 1 / classes

ADVICE = {
    "not learning": "the lecture (step 2): loss not going down means a learning rate too low or a "
                    "bad initialization; fix that before reading anything into this run",
    "over-fitting": "the lecture: a huge train/val gap means over-fitting; increase regularization, "
                    "get more data",
    "still improving": "the lecture: accuracy still going up; train longer",
    "under-fitting": "the lecture: no train/val gap means under-fitting; train longer, use a bigger model",
    "fine": "the lecture: nothing to fix from the curves; refine the grid around this run (step 5)",
    "unknown": "no held-out column in history.csv",
}


def diagnose(history, num_classes=None):
    """(label, why) for one run's history rows; num_classes (if known) enables "not learning"."""
    split = "val" if any(r.get("val_loss") is not None for r in history) else "test"
    rows = [r for r in history if r.get(f"{split}_loss") is not None and r.get("accuracy") is not None
            and r.get(f"{split}_accuracy") is not None]
    if not rows:
        return "unknown", ADVICE["unknown"]
    loss = ema([r[f"{split}_loss"] for r in rows])
    acc = ema([r[f"{split}_accuracy"] for r in rows])
    last = rows[-1]
    gap = last["accuracy"] - last[f"{split}_accuracy"]
    best = min(range(len(loss)), key=lambda i: (loss[i], i))
    rise = loss[-1] / loss[best] - 1 if loss[best] > 0 else 0.0
    k = max(1, len(rows) // 4)
    start = max(0, len(rows) - 1 - k)
    drop = 1 - loss[-1] / loss[start] if loss[start] > 0 else 0.0
    gain = acc[-1] - acc[start]
    facts = (f"train {100 * last['accuracy']:.1f}% vs {split} {100 * last[f'{split}_accuracy']:.1f}% "
             f"(gap {100 * gap:.1f} pts); EMA {split} loss {loss[-1]:.3g}, "
             f"min {loss[best]:.3g} at epoch {rows[best]['epoch']}")
    top = max(r[f"{split}_accuracy"] for r in rows)
    if num_classes and top <= 1 / num_classes + CHANCE_MARGIN:
        label, why = "not learning", (f"best {split} accuracy {100 * top:.1f}%, within "
                                      f"{100 * CHANCE_MARGIN:.0f} pts of chance ({100 / num_classes:.1f}%)")
    elif rise > RISE:
        label, why = "over-fitting", f"EMA {split} loss {100 * rise:.0f}% above its minimum"
    elif gap > GAP_HUGE:
        label, why = "over-fitting", f"gap above {100 * GAP_HUGE:.0f} pts"
    elif len(rows) > 1 and (drop > IMPROVING or gain > IMPROVING):
        label, why = "still improving", (f"over the last {k} epoch(s) EMA {split} loss fell "
                                         f"{100 * drop:.1f}%, accuracy rose {100 * gain:.1f} pts")
    elif gap < GAP_NONE:
        label, why = "under-fitting", f"gap below {100 * GAP_NONE:.0f} pt"
    else:
        label, why = "fine", "moderate gap, EMA loss levelled off"
    return label, f"{why}: {facts}. {ADVICE[label][0].upper()}{ADVICE[label][1:]}."
