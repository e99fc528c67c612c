"""python -m tfreg.analyze COMMAND [command flags] [tfreg run flags | --from_run=DIR] --out=DIR

Commands: landscape (--method=lr_envelope | santurkar), features, sanity, lr_range. The run to
study is given by any `python -m tfreg.run` flags (a --flagfile plus overrides), or by
--from_run=DIR (DIR/flags.txt, then DIR/model.keras's weights; later run flags override). Each
command writes --out: flags.txt (the command line, then the resolved run flags), results as JSON
and CSV, PNG figures. Bad input: one line `tfreg.analyze: error: ...`, exit status 2, nothing
written.
"""

import argparse
import json
import math
import shlex
import sys

from tfreg import environment

environment.configure()  # TensorFlow's environment, before anything loads it

from tfreg import runs  # noqa: E402
from tfreg.errors import UsageError  # noqa: E402

EXAMPLES = """\
Any other --FLAG=VALUE is a tfreg run flag (python -m tfreg.run --helpfull lists them).

examples:
  # seed 002's landscape: VGG-A with and without BN, four learning rates, bands over the rates
  python -m tfreg.analyze landscape --method=lr_envelope --dataset=fashion_mnist --model=vgg11 \\
      --width_multiplier=0.25 --optimizer=adam --lr_schedule=constant --steps=300 \\
      --record_every_steps=10 --out=reports/bn_landscape/lr_envelope
  # Santurkar et al.'s: probe along the gradient every 10 steps of one run per norm
  python -m tfreg.analyze landscape --method=santurkar --dataset=fashion_mnist --model=vgg11 \\
      --width_multiplier=0.25 --learning_rate=0.05 --lr_schedule=constant --out=...
  # feature maps of one test image from a finished run
  python -m tfreg.analyze features --from_run=runs/resnet18 --image_index=0 --out=...
  # the lecture's steps 1-3
  python -m tfreg.analyze sanity --flagfile=experiments/quickstart.flags --out=...
  python -m tfreg.analyze lr_range --flagfile=experiments/quickstart.flags --steps=300 --out=..."""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _floats(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers, got {text!r}") from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"must be finite numbers > 0, got {text!r}")
    return values


def _rate(text):
    """A finite number > 0 (nan and inf are refused, as by tfreg.run's float flags)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _norms(text):
    from tfreg.choices import NORMS

    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or any(v not in NORMS for v in values):
        raise argparse.ArgumentTypeError(f"must be a list of {', '.join(NORMS)}, got {text!r}")
    return values


def parser():
    p = _Parser(prog="python -m tfreg.analyze", description=__doc__.split("\n\n")[1],
                epilog=EXAMPLES, formatter_class=_Formatter, allow_abbrev=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, help_text):
        c = sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES,
                           formatter_class=_Formatter, allow_abbrev=False)
        c.add_argument("--from_run", metavar="DIR", help="study this run: its flags.txt and final weights")
        c.add_argument("--out", metavar="DIR", help="output directory (default runs/analyze_<command>_<UTC time>)")
        return c

    c = command("landscape", "loss landscape, gradient predictiveness and beta-smoothness, with and "
                             "without normalization on the same axes")
    c.add_argument("--method", choices=("lr_envelope", "santurkar"), default="lr_envelope",
                   help="lr_envelope: bands over training runs at several learning rates (seed 002); "
                        "santurkar: bands over steps along the gradient (Santurkar et al. 2018)")
    c.add_argument("--norms", type=_norms, default=["batch", "none"],
                   help="--norm values to compare on the same axes")
    c.add_argument("--learning_rates", type=_floats, default=[1e-3, 2e-3, 1e-4, 5e-4],
                   help="lr_envelope: one training run per rate")
    c.add_argument("--step_sizes", type=_floats, default=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4],
                   help="santurkar: eta in w - eta g")
    c.add_argument("--steps", type=_positive, default=300, help="training steps per run")
    c.add_argument("--record_every_steps", type=_positive, default=10, help="K: record or probe every K steps")

    c = command("features", "the stem's and every stage's activations for one test image, one PNG per stage")
    c.add_argument("--image_index", type=int, default=0, help="index into the test split")

    c = command("sanity", "the lecture's steps 1-2: initial loss vs log(C), then overfit a small sample")
    c.add_argument("--batches", type=_positive, default=5, help="size of the sample in batches (5-10)")
    c.add_argument("--max_steps", type=_positive, default=500, help="give up after this many steps")
    c.add_argument("--target_accuracy", type=_rate, default=1.0,
                   help="training accuracy (mean over one pass of the sample) that counts as overfit")

    c = command("lr_range", "LR range test: exponential learning-rate ramp, loss against rate")
    c.add_argument("--lr_start", type=_rate, default=1e-5, help="rate at the first step")
    c.add_argument("--lr_end", type=_rate, default=10.0, help="rate at the last step")
    c.add_argument("--steps", type=_positive, default=300, help="steps of the ramp")
    return p


def parse(argv):
    args, run_args = parser().parse_known_args(argv)
    stray = [a for a in run_args if not a.startswith("-")]
    if stray:
        raise UsageError(f"unexpected arguments {stray}; flags look like --name=value")
    if args.command == "lr_range" and not 0 < args.lr_start < args.lr_end:
        raise UsageError("--lr_start and --lr_end must satisfy 0 < lr_start < lr_end")
    if args.command == "sanity" and not 0 < args.target_accuracy <= 1:
        raise UsageError("--target_accuracy must be in (0, 1]")
    if args.command == "landscape" and args.from_run:
        raise UsageError("landscape trains from scratch once per --norms value; give run flags "
                         "(e.g. --flagfile=DIR/flags.txt) instead of --from_run")
    from tfreg.analysis import common

    cfg = common.load_config(run_args, args.from_run)
    if args.command == "features" and args.image_index < 0:
        raise UsageError("--image_index must be >= 0")
    out = common.check_out_dir(args.out, args.command, cfg.run.overwrite)
    return args, cfg, out


def _write_json(path, payload):
    runs.write_json(path, json.loads(json.dumps(payload, default=float)))


def landscape(args, cfg, data, out):
    from tfreg.analysis import common, landscape as ls

    title = f"{cfg.model.model} x{cfg.model.width_multiplier:g} on {cfg.data.dataset}"
    if args.method == "lr_envelope":
        result = ls.run_lr_envelope(cfg, data, args.norms, args.learning_rates, args.steps,
                                    args.record_every_steps)
        rows, summary = ls.envelope_rows(result), ls.envelope_summary(result)
        common.write_flags(out, cfg, args.command_line)
        ls.plot_envelope(result, out / "lr_envelope.png", title)
        raw = {norm: {f"{lr:g}": r for lr, r in by_lr.items()} for norm, by_lr in result.items()}
    else:
        result = ls.run_santurkar(cfg, data, args.norms, args.step_sizes, args.steps,
                                  args.record_every_steps)
        rows, summary = ls.santurkar_rows(result, args.step_sizes), ls.santurkar_summary(result)
        common.write_flags(out, cfg, args.command_line)
        ls.plot_santurkar(result, args.step_sizes, out / "santurkar.png", title)
        raw = result
    common.write_csv(out / f"{args.method}.csv", rows)
    _write_json(out / f"{args.method}.json", {
        "method": args.method, "norms": args.norms, "steps": args.steps,
        "record_every_steps": args.record_every_steps,
        **({"learning_rates": args.learning_rates} if args.method == "lr_envelope"
           else {"learning_rate": cfg.train.learning_rate, "step_sizes": args.step_sizes}),
        "summary": summary, "curves": raw})
    for norm, s in summary.items():
        print(f"{norm}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in s.items()))


def features(args, cfg, data, out):
    from tfreg.analysis import common, features as ft

    if args.image_index >= len(data.y_test):
        raise UsageError(f"--image_index={args.image_index}: the test split has {len(data.y_test)} images")
    _, net, _ = common.build(cfg, data)
    image = data.x_test[args.image_index]
    stages = ft.stage_activations(net, image)
    common.write_flags(out, cfg, args.command_line)
    files = []
    for label, layer, acts in stages:
        files.append(f"{label}.png")
        ft.plot_stage(image, label, layer, acts, out / files[-1])
    probs = net(image[None].astype("float32"), training=False).numpy()[0]
    _write_json(out / "features.json", {
        "image_index": args.image_index, "label": int(data.y_test[args.image_index]),
        "predicted": int(probs.argmax()), "probability": float(probs.max()),
        "stages": ft.summary(stages), "figures": files})
    for s in ft.summary(stages):
        print(f"{s['stage']} ({s['layer']}): {s['shape']}, range [{s['min']:.3g}, {s['max']:.3g}], "
              f"{100 * s['zero_fraction']:.0f}% zeros, {s['dead_channels']} all-zero channels")


def sanity(args, cfg, data, out):
    from tfreg.analysis import common, recipe

    result, history = recipe.run_sanity(cfg, data, args.batches, args.max_steps, args.target_accuracy)
    common.write_flags(out, recipe.sanity_config(cfg), args.command_line)
    common.write_csv(out / "overfit.csv", history)
    recipe.plot_overfit(history, out / "overfit.png")
    _write_json(out / "sanity.json", result)


def lr_range(args, cfg, data, out):
    from tfreg.analysis import common, recipe

    result, rates, losses = recipe.run_lr_range(cfg, data, args.lr_start, args.lr_end, args.steps)
    common.write_flags(out, cfg, args.command_line)
    smooth = recipe.ema(losses, recipe.LR_EMA_WEIGHT)
    common.write_csv(out / "lr_range.csv", [{"step": i, "learning_rate": r, "loss": l, "ema_loss": s}
                                            for i, (r, l, s) in enumerate(zip(rates, losses, smooth))])
    recipe.plot_lr_range(rates, losses, result["suggested_learning_rate"], out / "lr_range.png")
    _write_json(out / "lr_range.json", result)


COMMANDS = {"landscape": landscape, "features": features, "sanity": sanity, "lr_range": lr_range}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, cfg, out = parse(argv)
        args.command_line = "python -m tfreg.analyze " + " ".join(shlex.quote(a) for a in argv)
        from tfreg.data import prepare

        data = prepare.prepare(cfg)
        with environment.quiet_tensorflow_import():
            import tensorflow  # noqa: F401
        COMMANDS[args.command](args, cfg, data, out)
    except UsageError as e:
        print(f"tfreg.analyze: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
