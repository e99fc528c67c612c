"""Golden records of behaviour that a refactor must keep byte for byte (tests/test_golden.py).

- every flag: section, default, help and choices (`flags.json`);
- every committed flagfile under experiments/: its parsed config (dataclasses.asdict) and the
  flags.txt a run of it writes (`flagfiles.json`), and its --dry_run summary on stand-in data of the
  dataset's shape and class count (`dry_run.json`: the summary's dataset lines depend on the data
  files of a machine, everything else on the flags alone);
- a deterministic tiny run of experiments/smoke.flags: flags.txt, config.json's flags, history.csv
  without its wall times, the summary's fields (`tiny_run/`).

Regenerate (only when a change of behaviour is intended): TFREG_REGEN_GOLDEN=1 pytest tests/test_golden.py
"""

import csv
import dataclasses
import io
import json
import os
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
TINY_ARGS = ["--flagfile=experiments/smoke.flags", "--dataset=synthetic",
             "--train_examples=100", "--synthetic_train_examples=200", "--synthetic_test_examples=50", "--epochs=2",
             "--steps_per_epoch=2", "--deterministic", "--verbose=0", "--nosaved_model",
             "--test_every_epochs=1", "--val_split=0.2", "--mixup_alpha=0.2", "--drop_path_rate=0.1",
             "--random_erasing_prob=0.5", "--label_smoothing=0.1", "--agc_clip=0.02"]


def flagfiles():
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "experiments").rglob("*.flags"))


def _json(value):
    return json.loads(json.dumps(value))


def parse(argv):
    from tfreg import config

    from tfreg import flags

    return flags.parse_args(["tfreg.run", *argv])


def to_flagfile(cfg):
    from tfreg import config

    return config.to_flagfile(cfg)


def validate(cfg):
    from tfreg import validation

    validation.validate(cfg)


def flag_table():
    from absl import flags

    from tfreg import flags as tfreg_flags

    fv = tfreg_flags.define_flags(flags.FlagValues())
    out = {}
    for section, names in tfreg_flags.SECTIONS.items():
        for name in names:
            f = fv[name]
            out[name] = {"section": section, "default": f.default_as_str, "help": f.help,
                         "type": f.flag_type(),
                         "choices": list(getattr(f.parser, "enum_values", None) or [])}
    return out


def flagfile_records():
    os.chdir(ROOT)
    out = {}
    for path in flagfiles():
        cfg = parse([f"--flagfile={path}"])
        out[path] = {"config": _json(dataclasses.asdict(cfg)), "flags_txt": to_flagfile(cfg)}
    return out


def stand_in_data(cfg):
    from tfreg.data import datasets, prepare

    d = cfg.data
    shape = datasets.IMAGE_SHAPES[d.dataset]
    classes = len(d.classes) or datasets.NUM_CLASSES[d.dataset]
    n_train = 20 * classes
    n_val = int(round(n_train * d.val_split))
    y = np.arange(n_train) % classes

    def x(n):
        return np.zeros((n, *shape), np.uint8)

    return prepare.Splits(x(n_train - n_val), y[n_val:], x(n_val), y[:n_val], x(classes),
                          np.arange(classes), classes, "stand-in", {}, np.zeros(shape[-1]))


def dry_run_records(paths=None):
    from tfreg.train import assemble

    os.chdir(ROOT)
    out = {}
    for path in paths or flagfiles():
        cfg = parse([f"--flagfile={path}"])
        validate(cfg)
        out[path] = assemble.dry_run_summary(cfg, stand_in_data(cfg))
    return out


def tiny_run(run_dir):
    """{file name: text} of the deterministic tiny run, wall times and paths taken out."""
    from tfreg.data import prepare
    from tfreg.train import loop

    os.chdir(ROOT)
    cfg = parse([*TINY_ARGS, f"--run_dir={run_dir}"])
    validate(cfg)
    loop.train_and_evaluate(cfg, run_dir, prepare.prepare(cfg))
    run_dir = pathlib.Path(run_dir)
    rows = list(csv.DictReader(io.StringIO((run_dir / "history.csv").read_text())))
    history = io.StringIO()
    fields = [k for k in rows[0] if k != "epoch_time_s"]
    writer = csv.DictWriter(history, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    config = json.loads((run_dir / "config.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    summary = {k: v for k, v in summary.items()
               if not (k.endswith(("_s", "_time")) or "time" in k or k in ("timings", "environment"))}
    return {
        "flags.txt": (run_dir / "flags.txt").read_text().replace(str(run_dir), "RUN_DIR"),
        "config_flags.json": json.dumps(config["flags"], indent=1, sort_keys=True).replace(
            str(run_dir), "RUN_DIR") + "\n",
        "history.csv": history.getvalue(),
        "summary_fields.json": json.dumps(summary, indent=1, sort_keys=True) + "\n",
    }
