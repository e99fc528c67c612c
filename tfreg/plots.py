"""Learning curves as PNG: loss and accuracy for train / val / test, raw and EMA-smoothed."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# TensorBoard's default smoothing weight; the curves are a view, not an experiment setting.
EMA_WEIGHT = 0.6


def ema(values, weight=EMA_WEIGHT):
    """Debiased exponential moving average, as TensorBoard's smoothing."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return out


def learning_curves(rows, plots_dir):
    """Writes loss.png and accuracy.png; returns their paths."""
    written = []
    epochs = [r["epoch"] for r in rows]
    for metric in ("loss", "accuracy"):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for prefix, label, colour in (("", "train", "C0"), ("val_", "val", "C1"), ("test_", "test", "C2")):
            values = [r.get(prefix + metric) for r in rows]
            if not values or any(v is None for v in values):
                continue
            ax.plot(epochs, values, color=colour, alpha=0.3, linewidth=1)
            ax.plot(epochs, ema(values), color=colour, linewidth=2, label=f"{label} (EMA {EMA_WEIGHT})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = plots_dir / f"{metric}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
