"""Loss landscape and gradient behaviour of a network with and without batch norm, two ways.

`lr_envelope` (the ResNet-18 / VGG-A study, seed 002, sections 2.2-3.2): train the network once
per learning rate (default 1e-3, 2e-3, 1e-4, 5e-4) and record, every K steps, the training loss
and the gradient g(t) of the last linear layer's kernel on the current batch. Per recorded step,
over the learning rates, the band from the minimum to the maximum of: the loss ("loss
landscape"); ||g(t+1) - g(t)|| ("gradient predictiveness"); ||2 g(t) - g(t+1) - g(t-1)||
("beta-smoothness", a second difference).

`santurkar` (Santurkar et al. 2018, "How does batch normalization help optimization?", Sec. 3.1
and Fig. 4): at every K-th step of one training run, with g the gradient of the whole model on the
current batch at weights w, evaluate at w - eta g for each step size eta: (a) the loss
L(w - eta g), band over eta; (b) gradient predictiveness ||grad L(w) - grad L(w - eta g)||, band
over eta; (c) effective beta-smoothness max over eta of ||grad L(w) - grad L(w - eta g)|| / ||eta g||.

Both evaluate the loss exactly as the training step does (Trainer.loss_and_gradients, batch norm
in training mode) through Keras's stateless_call: no probe moves a weight, an optimizer slot or a
BatchNorm statistic. The pure functions below take arrays and are tested on quadratic and linear
losses.
"""

import numpy as np


def global_norm(arrays):
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(a, np.float64))) for a in arrays)))


def gradient_changes(grads):
    """||g(t+1) - g(t)|| between consecutive recorded gradients (one fewer than grads)."""
    return [global_norm([b - a]) for a, b in zip(grads[:-1], grads[1:])]


def second_differences(grads):
    """||2 g(t) - g(t+1) - g(t-1)|| for the inner recorded steps (two fewer than grads)."""
    return [global_norm([2 * g - n - p]) for p, g, n in zip(grads[:-2], grads[1:-1], grads[2:])]


def band(curves):
    """(min, max) per position over equally long curves, NaN (a diverged curve) ignored."""
    stacked = np.asarray(curves, np.float64)
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(stacked), stacked, np.nan)
        return np.nanmin(finite, 0), np.nanmax(finite, 0)


def santurkar_probe(loss_and_grad, weights, step_sizes):
    """At w: loss_and_grad(w) -> (loss, [gradient arrays]); returns the loss at w, ||g||, and per
    step size eta the loss at w - eta g and ||grad L(w) - grad L(w - eta g)||, and the effective
    smoothness max_eta ||grad L(w) - grad L(w - eta g)|| / ||eta g||."""
    loss, g = loss_and_grad(weights)
    g = [np.asarray(a) for a in g]
    norm = global_norm(g)
    losses, changes, ratios = [], [], []
    for eta in step_sizes:
        moved_loss, moved_g = loss_and_grad([np.asarray(w) - eta * d for w, d in zip(weights, g)])
        change = global_norm([np.asarray(b) - a for a, b in zip(g, moved_g)])
        losses.append(float(moved_loss))
        changes.append(change)
        ratios.append(change / (eta * norm) if norm > 0 else 0.0)
    return {"loss": float(loss), "grad_norm": norm, "losses": losses, "grad_changes": changes,
            "smoothness": max(ratios)}


def _last_linear_kernel_index(trainer):
    names = [v.path for v in trainer.trainable_variables]
    return names.index("logits/kernel")


def run_lr_envelope(cfg, data, norms, learning_rates, steps, every, log=print):
    """{norm: {lr: {"steps", "loss", "grad_change", "beta"}}} from one training run per norm and
    learning rate, recorded every `every` steps."""
    from tfreg.analysis import common

    out = {}
    for norm in norms:
        out[norm] = {}
        for lr in learning_rates:
            run_cfg = common.enough_epochs(cfg.replace(norm=norm, learning_rate=lr), data, steps)
            trainer, _, train_ds = common.build(run_cfg, data)
            probe, step = common.gradient_probe(trainer), common.step_function(trainer)
            k = _last_linear_kernel_index(trainer)
            recorded, losses, grads = [], [], []
            for t, (images, labels) in enumerate(train_ds.take(steps)):
                if t % every == 0:
                    loss, g = probe(images, labels)
                    recorded.append(t)
                    losses.append(loss)
                    grads.append(g[k])
                step(images, labels)
            out[norm][lr] = {"steps": recorded, "loss": losses,
                             "grad_change": gradient_changes(grads), "beta": second_differences(grads)}
            log(f"lr_envelope norm={norm} lr={lr:g}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    return out


def run_santurkar(cfg, data, norms, step_sizes, steps, every, log=print):
    """{norm: [probe dict + "step"]} from one training run per norm (--learning_rate), probed every
    `every` steps."""
    from tfreg.analysis import common

    out = {}
    for norm in norms:
        run_cfg = common.enough_epochs(cfg.replace(norm=norm), data, steps)
        trainer, _, train_ds = common.build(run_cfg, data)
        probe, step = common.gradient_probe(trainer), common.step_function(trainer)
        out[norm] = []
        for t, (images, labels) in enumerate(train_ds.take(steps)):
            if t % every == 0:
                weights = [v.numpy() for v in trainer.trainable_variables]
                result = santurkar_probe(lambda w: probe(images, labels, w), weights, step_sizes)
                out[norm].append({"step": t, **result})
            step(images, labels)
        first, last = out[norm][0], out[norm][-1]
        log(f"santurkar norm={norm}: loss {first['loss']:.4f} -> {last['loss']:.4f}, "
            f"effective smoothness {first['smoothness']:.3g} -> {last['smoothness']:.3g}")
    return out


# ---- tables and figures ---------------------------------------------------------------------

LABELS = {"batch": "with BN", "none": "without BN"}


def _label(norm):
    return LABELS.get(norm, f"norm={norm}")


def envelope_rows(result):
    rows = []
    for norm, by_lr in result.items():
        for lr, r in by_lr.items():
            for i, t in enumerate(r["steps"]):
                change = r["grad_change"][i] if i < len(r["grad_change"]) else ""
                beta = r["beta"][i - 1] if 0 < i <= len(r["beta"]) else ""
                rows.append({"norm": norm, "learning_rate": lr, "step": t, "loss": r["loss"][i],
                             "grad_change_to_next": change, "beta_smoothness": beta})
    return rows


def santurkar_rows(result, step_sizes):
    rows = []
    for norm, probes in result.items():
        for p in probes:
            for eta, loss, change in zip(step_sizes, p["losses"], p["grad_changes"]):
                rows.append({"norm": norm, "step": p["step"], "step_size": eta, "loss_at_step": p["loss"],
                             "grad_norm": p["grad_norm"], "loss_moved": loss, "grad_change": change,
                             "effective_smoothness": p["smoothness"]})
    return rows


def _mean(values):
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else None


def envelope_summary(result):
    """Per norm: mean over recorded steps of each band's width and upper edge; diverged rates."""
    out = {}
    for norm, by_lr in result.items():
        runs = list(by_lr.values())
        summary = {"diverged_learning_rates": [lr for lr, r in by_lr.items()
                                               if not np.all(np.isfinite(r["loss"]))]}
        for key in ("loss", "grad_change", "beta"):
            low, high = band([r[key] for r in runs])
            summary[f"{key}_band_width_mean"] = _mean(high - low)
            summary[f"{key}_max_mean"] = _mean(high)
        low, high = band([r["loss"][-1:] for r in runs])
        summary["final_loss_min_max"] = [float(low[0]), float(high[0])]
        out[norm] = summary
    return out


def santurkar_summary(result):
    out = {}
    for norm, probes in result.items():
        spread = [max(p["losses"]) - min(p["losses"]) for p in probes]
        out[norm] = {"loss_range_mean": _mean(spread),
                     "grad_change_max_mean": _mean([max(p["grad_changes"]) for p in probes]),
                     "effective_smoothness_mean": _mean([p["smoothness"] for p in probes]),
                     "final_loss": probes[-1]["loss"]}
    return out


def _plots():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_envelope(result, path, title):
    plt = _plots()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), dpi=100)
    panels = (("loss", "training loss", 0), ("grad_change", "||g(t+1) - g(t)||, last layer", 0),
              ("beta", "||2g(t) - g(t+1) - g(t-1)||, last layer", 1))
    for ax, (key, ylabel, offset) in zip(axes, panels):
        for c, (norm, by_lr) in enumerate(result.items()):
            runs = list(by_lr.values())
            low, high = band([r[key] for r in runs])
            x = runs[0]["steps"][offset:offset + len(low)]
            ax.fill_between(x, low, high, color=f"C{c}", alpha=0.35, lw=0, label=f"{_label(norm)} (min-max)")
            ax.plot(x, low, color=f"C{c}", lw=0.8)
            ax.plot(x, high, color=f"C{c}", lw=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend()
    lrs = ", ".join(f"{lr:g}" for lr in next(iter(result.values())))
    fig.suptitle(f"{title}: bands over learning rates {lrs}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_santurkar(result, step_sizes, path, title):
    plt = _plots()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), dpi=100)
    for c, (norm, probes) in enumerate(result.items()):
        x = [p["step"] for p in probes]
        for ax, key in zip(axes[:2], ("losses", "grad_changes")):
            low, high = band(np.transpose([p[key] for p in probes]))  # per probe, over eta
            ax.fill_between(x, low, high, color=f"C{c}", alpha=0.35, lw=0, label=_label(norm))
            ax.plot(x, low, color=f"C{c}", lw=0.8)
            ax.plot(x, high, color=f"C{c}", lw=0.8)
        axes[2].plot(x, [p["smoothness"] for p in probes], color=f"C{c}", label=_label(norm))
    axes[0].set_ylabel("loss at w - eta g (min-max over eta)")
    axes[1].set_ylabel("||grad L(w) - grad L(w - eta g)||")
    axes[2].set_ylabel("max_eta ||grad diff|| / ||eta g||")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.set_yscale("log")  # the two nets differ by orders of magnitude
        ax.grid(alpha=0.3, which="both")
    axes[0].legend()
    fig.suptitle(f"{title}: step sizes eta in {', '.join(f'{e:g}' for e in step_sizes)}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
