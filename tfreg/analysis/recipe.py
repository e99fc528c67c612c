"""The lecture's hyper-parameter recipe (seed 004, "Choosing Hyperparameters"), steps 1-3.

`sanity`: step 1, the loss at initialization with weight decay off against log(C) (a softmax over
C classes that knows nothing predicts 1/C each); step 2, overfit a small sample (5-10 batches) to
~100% training accuracy, or say why not: loss flat -> rate too low or bad initialization; loss
NaN / Inf -> rate too high or bad initialization.
`lr_range`: step 3 as an LR range test (Smith 2017, "Cyclical learning rates", Sec. 3.3): the
rate grows exponentially from --lr_start to --lr_end over a few hundred steps of ordinary
training; loss against rate, raw and EMA-smoothed; the test stops once the smoothed loss exceeds
STOP_FACTOR x its minimum. Suggested rate: one tenth of the rate at the smoothed loss's minimum
(the rate there is already too high to train at; a tenth of it is the usual pick).

Weight decay in tfreg acts in the optimizer, so the loss never includes it; `sanity` still turns
it off for the overfitting phase, as the lecture says. The overfitting phase trains on the first
N batches of the training split without augmentation or batch mixing, at a constant rate.
"""

import math

import numpy as np

from tfreg.plots import ema

# Per-step losses are noisy, but the ramp multiplies the rate by ~5% a step over a few hundred
# steps, and an EMA lags by about 1/(1 - weight) steps: 0.98 (fastai's) would shift the minimum a
# decade to the right; 0.9 lags ~10 steps, a factor ~1.6 in rate.
LR_EMA_WEIGHT = 0.9
STOP_FACTOR = 4.0
FLAT = 0.9  # "flat": the last pass's mean loss is above 90% of the first pass's
INITIAL_TOLERANCE = 0.1  # the initial loss within 10% of log(C) counts as expected


def initial_loss_verdict(loss, num_classes):
    """(ok, message) for the loss at initialization against log(C)."""
    ratio = loss / math.log(num_classes)
    if not math.isfinite(loss):
        return False, "the initial loss is not finite: bad initialization or a bug in the loss"
    if abs(ratio - 1) <= INITIAL_TOLERANCE:
        return True, f"within {100 * INITIAL_TOLERANCE:.0f}% of log(C), as expected"
    if ratio > 1:
        return False, ("above log(C): the untrained outputs are confidently wrong; check the last "
                       "layer's initialization scale and what else the loss adds")
    return False, ("below log(C) before any training: check the labels and the loss for a leak "
                   "or a bug")


def sanity_config(cfg):
    """The overfitting phase's config: weight decay, mixing, schedule and warmup off."""
    return cfg.replace(weight_decay=0.0, weight_decay_exclude="none", mixup_alpha=0.0,
                       cutmix_alpha=0.0, mix_prob=1.0, lr_schedule="constant", warmup_epochs=0.0,
                       lr_min=0.0)


def overfit_verdict(pass_losses, pass_accuracies, target):
    """(ok, message) from per-pass mean losses and accuracies of the overfitting phase."""
    if not all(math.isfinite(v) for v in pass_losses):
        return False, ("failed: the loss became NaN / Inf; the lecture: learning rate too high, "
                       "or bad initialization")
    if pass_accuracies and pass_accuracies[-1] >= target:
        return True, f"reached {100 * pass_accuracies[-1]:.1f}% training accuracy"
    if len(pass_losses) < 2 or pass_losses[-1] > FLAT * pass_losses[0]:
        return False, ("failed: the loss stayed flat; the lecture: learning rate too low, or bad "
                       "initialization")
    return False, ("failed: the loss fell but accuracy did not reach the target in the steps "
                   "given; train longer (--max_steps) or raise the learning rate")


def initial_loss(probe, batches):
    """Mean training-mode loss over the batches at the current (initial) weights, nothing moved."""
    return float(np.mean([probe(x, y)[0] for x, y in batches]))


def run_sanity(cfg, data, num_batches, max_steps, target, log=print):
    from tfreg.analysis import common

    import tensorflow as tf

    cfg = sanity_config(cfg)
    trainer, _, _ = common.build(cfg, data)
    b = cfg.data.batch_size
    n = min(len(data.y_train), num_batches * b)
    sample = tf.data.Dataset.from_tensor_slices(
        (data.x_train[:n].astype(np.float32), data.y_train[:n])).batch(b).cache()
    batches = list(sample)
    c = data.num_classes
    loss0 = initial_loss(common.gradient_probe(trainer), batches)
    initial_ok, initial_message = initial_loss_verdict(loss0, c)
    log(f"initial loss {loss0:.4f}  vs  log(C) = log({c}) = {math.log(c):.4f}  "
        f"(ratio {loss0 / math.log(c):.3f}): {initial_message}")
    step = common.step_function(trainer)
    history, pass_losses, pass_accuracies, steps_taken = [], [], [], 0
    while steps_taken < max_steps:
        logs = []
        for x, y in batches:
            if steps_taken >= max_steps:
                break
            logs.append(step(x, y))
            steps_taken += 1
            history.append({"step": steps_taken, **logs[-1]})
        pass_losses.append(float(np.mean([r["loss"] for r in logs])))
        pass_accuracies.append(float(np.mean([r["accuracy"] for r in logs])))
        if not math.isfinite(pass_losses[-1]) or pass_accuracies[-1] >= target:
            break
    ok, message = overfit_verdict(pass_losses, pass_accuracies, target)
    eval_acc = float(np.mean([np.mean(np.argmax(trainer.net(x, training=False), -1) == y.numpy())
                              for x, y in batches]))
    message = (f"overfit {n} examples ({len(batches)} batches of {b}) at learning rate "
               f"{cfg.train.learning_rate:g}: {message} after {steps_taken} steps "
               f"({len(pass_losses)} passes); inference-mode accuracy on the sample "
               f"{100 * eval_acc:.1f}%")
    log(message)
    result = {"initial_loss": loss0, "log_num_classes": math.log(c), "num_classes": c,
              "initial_loss_ratio": loss0 / math.log(c), "initial_loss_ok": initial_ok,
              "initial_loss_verdict": initial_message, "overfit_examples": n,
              "overfit_batches": len(batches), "overfit_target_accuracy": target,
              "overfit_reached": ok, "overfit_steps": steps_taken,
              "overfit_final_train_accuracy": pass_accuracies[-1] if pass_accuracies else None,
              "overfit_inference_accuracy": eval_acc, "verdict": message}
    return result, history


def lr_schedule(start, end, steps):
    """Exponential ramp: start at step 0, end at step steps-1."""
    import keras

    return keras.optimizers.schedules.ExponentialDecay(
        start, decay_steps=1, decay_rate=(end / start) ** (1 / max(1, steps - 1)))


def suggest(rates, losses):
    """(suggested rate, rule, details) from the raw losses of an LR range test."""
    smooth = ema(losses, LR_EMA_WEIGHT)
    finite = [i for i, v in enumerate(smooth) if math.isfinite(v)]
    best = min(finite, key=lambda i: smooth[i])
    logs = np.log(rates)
    slopes = np.gradient(np.asarray(smooth)[finite], logs[finite]) if len(finite) > 2 else [0.0]
    steepest = rates[finite[int(np.argmin(slopes))]]
    rule = ("one tenth of the rate at the minimum of the EMA-smoothed loss "
            f"(weight {LR_EMA_WEIGHT}); that rate is already at the edge of divergence")
    return rates[best] / 10, rule, {"rate_at_min_smoothed_loss": rates[best],
                                    "min_smoothed_loss": smooth[best],
                                    "rate_at_steepest_descent": steepest}


def run_lr_range(cfg, data, start, end, steps, log=print):
    from tfreg.analysis import common
    from tfreg.train import optimizers

    cfg = common.enough_epochs(cfg, data, steps)
    trainer, net, train_ds = common.build(cfg, data)
    trainer.compile(optimizer=optimizers.make_optimizer(cfg.train, lr_schedule(start, end, steps),
                                                        net.trainable_variables))
    schedule = lr_schedule(start, end, steps)
    step = common.step_function(trainer)
    rates, losses = [], []
    for t, (x, y) in enumerate(train_ds.take(steps)):
        rates.append(float(schedule(t)))
        losses.append(step(x, y)["loss"])
        smooth = ema(losses, LR_EMA_WEIGHT)
        if not math.isfinite(losses[-1]) or smooth[-1] > STOP_FACTOR * min(smooth):
            break
    rate, rule, details = suggest(rates, losses)
    stopped = len(rates) < steps
    log(f"LR range test: {len(rates)} steps from {rates[0]:.2e} to {rates[-1]:.2e}"
        + (" (stopped: smoothed loss above 4x its minimum or non-finite)" if stopped else ""))
    log(f"suggested learning rate: {rate:.2e} (rule: {rule}; minimum at {details['rate_at_min_smoothed_loss']:.2e}, "
        f"steepest descent at {details['rate_at_steepest_descent']:.2e})")
    return {"suggested_learning_rate": rate, "rule": rule, **details, "steps_run": len(rates),
            "stopped_early": stopped, "lr_start": start, "lr_end": end}, rates, losses


def plot_overfit(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    steps = [r["step"] for r in history]
    ax.plot(steps, [r["loss"] for r in history], color="C0", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (per batch)")
    twin = ax.twinx()
    twin.plot(steps, [r["accuracy"] for r in history], color="C1", label="accuracy")
    twin.set_ylabel("training accuracy (per batch)")
    twin.set_ylim(0, 1.02)
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.85))
    ax.set_title("overfitting a small sample")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_lr_range(rates, losses, suggested, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(rates, losses, color="C0", alpha=0.4, lw=0.8, label="loss (per batch)")
    ax.plot(rates, ema(losses, LR_EMA_WEIGHT), color="C0", label=f"EMA {LR_EMA_WEIGHT}")
    ax.axvline(suggested, color="C3", ls="--", label=f"suggested {suggested:.1e}")
    ax.set_xscale("log")
    finite = [v for v in losses if math.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) * 0.9, min(max(finite), STOP_FACTOR * 1.5 * min(finite)) * 1.05)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("LR range test")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
