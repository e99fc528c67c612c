"""What a sweep runs: arms x seeds, one planned run per SWEEP_DIR/<arm>/seed_<k>/.

An arm is a flagfile (named by its stem), a point of a product grid over a base flagfile (named by
its grid values, e.g. `norm_stages=1,2+dropout_rates=0.1,0.2,0.3`; an empty value reads `none`),
or both. Arms whose runs would be the same experiment (their planned configurations equal apart
from the run directory) run once: `identical_arms` names them, and the sweep records them. Every
run's flags are parsed and checked exactly as `python -m tfreg.run` would, in its order
(`flags.parse_args`, `validation.validate`, `validation.check_files`, and, for runs launched on
this machine, loading the dataset itself, its classes, split and subset) before anything
is launched or written; each mistake is one UsageError. Left to the runs: the checks that need
TensorFlow (XLA and device settings), and on Slurm the dataset, which may exist only on the
cluster's nodes.
"""

import dataclasses
import hashlib
import itertools
import pathlib
import re

from tfreg import config as config_lib
from tfreg import flagfiles as flagfile_lib
from tfreg import flags as tfreg_flags
from tfreg import validation
from tfreg import rundir, runs
from tfreg.data import prepare

UsageError = config_lib.UsageError

# tfreg.run writes this first line into flags.txt (tfreg/train); runs.is_run_dir looks for "# tfreg".
# Set by the sweep for each run, or dropped from flags.txt: never taken from the user.
SWEEP_OWNED = {"seed": "use --seeds=0,1,2", "run_dir": "the sweep names run directories",
               "overwrite": "the sweep skips finished runs; delete a run directory to redo it",
               "dry_run": "use --list to see the planned runs"}
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._,=+-]")


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    arm: str
    seed: int
    dir: pathlib.Path  # absolute, so the flags and the command work from any working directory
    source: str       # what the arm came from, for error messages
    cfg: object       # the validated config.Config
    flags_text: str   # flags.txt as tfreg.run writes it

    @property
    def flags(self):
        """{flag: value as written in flags.txt}."""
        return runs.parse_flagfile(self.flags_text)

    def command(self, python):
        return [python, "-m", "tfreg.run", f"--flagfile={self.dir / 'flags.txt'}",
                f"--run_dir={self.dir}"]


def safe_name(name):
    """A readable directory name: characters outside [A-Za-z0-9._,=+-] become '_', no leading dot
    (run stores skip hidden folders), long names shortened with a hash to stay unique."""
    name = _NAME_CHARS.sub("_", name)
    if not name or name.startswith("."):
        name = "_" + name
    if len(name) > 160:
        name = name[:140] + "-" + hashlib.sha1(name.encode()).hexdigest()[:12]
    return name


def parse_seeds(text):
    """'0,1,2' -> [0, 1, 2]; None -> None (each arm keeps its own --seed)."""
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds={text}: give integers separated by commas, e.g. --seeds=0,1,2") from None
    if not seeds or min(seeds) < 0:
        raise UsageError(f"--seeds={text}: give one or more integers >= 0, e.g. --seeds=0,1,2")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds={text} lists a seed twice")
    return seeds


def _flag_name(token):
    name = token.lstrip("-").split("=", 1)[0]
    return name[2:] if name.startswith("no") and name[2:] in SWEEP_OWNED else name


def parse_grid(items):
    """['norm_stages=1|1,2', ...] -> [('norm_stages', ['1', '1,2']), ...]; '|' separates values so
    list values keep their commas."""
    grid = []
    for item in items:
        name, eq, values = item.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--grid={item}: write --grid=FLAG=VALUE1|VALUE2|..., e.g. "
                             "--grid=norm_stages=1|1,2|1,2,3")
        if name in SWEEP_OWNED:
            raise UsageError(f"--grid={item}: {SWEEP_OWNED[name]}")
        if name in dict(grid):
            raise UsageError(f"--grid names {name} twice; list all its values in one --grid")
        values = values.split("|")
        if len(set(values)) != len(values):
            raise UsageError(f"--grid={item} lists a value twice")
        grid.append((name, values))
    return grid


def check_overrides(overrides, grid):
    """Flags given to every run (`--epochs=2`): refuses those the sweep owns or the grid sets."""
    for token in overrides:
        if not token.startswith("--"):
            raise UsageError(f"unexpected argument {token!r}; flags look like --name=value")
        name = _flag_name(token)
        if name in SWEEP_OWNED:
            raise UsageError(f"{token}: {SWEEP_OWNED[name]}")
        if name in dict(grid) or (name.startswith("no") and name[2:] in dict(grid)):
            raise UsageError(f"{token}: {name} is also in --grid; give it in one place")


def arms(flagfiles, base, grid):
    """[(name, source, tfreg.run argv fragment)] for every arm: each flagfile (after the base
    flagfile, which it overrides) times each grid point."""
    return [(name, source, argv) for name, _, source, argv in _arms(flagfiles, base, grid)]


def named_arms(flagfiles, base, grid, sweep_dir):
    """(arms, {folder: readable name}): `arms`, except that a grid arm whose folder a sweep made
    under the name grid arms had before (`norm_stages=+dropout_rates=`) keeps that folder, so the
    sweep resumes it; the map gives such a folder its readable name, for reports."""
    out, names = [], {}
    for name, previous, source, argv in _arms(flagfiles, base, grid):
        if previous != name and (pathlib.Path(sweep_dir) / previous).is_dir() \
                and not (pathlib.Path(sweep_dir) / name).exists():
            names[previous] = name
            name = previous
        out.append((name, source, argv))
    return out, names


def _shown(value, values):
    """A grid value as its arm's name shows it: an empty value reads `none` (unless `none` is
    another value of the same axis)."""
    return "none" if value == "" and "none" not in values else value


def _arms(flagfiles, base, grid):
    """[(name, name before readable grid names, source, argv)]."""
    # each found as tfreg.run finds a --flagfile (the working directory, then the bundled
    # experiments); named in messages as given
    found = {f: flagfile_lib.resolve(f, what=f"flagfile {f}")
             for f in ([base, *flagfiles] if base else flagfiles)}
    # a study's base.flags holds what its arms share: `mini/*.flags` names it, but it is no arm
    if len(flagfiles) > 1:
        flagfiles = [f for f in flagfiles if pathlib.Path(f).name != "base.flags"]
    bases = [(pathlib.Path(f).stem, f, [f"--flagfile={found[f]}"]) for f in flagfiles]
    if not bases:
        bases = [(pathlib.Path(base).stem, base, [f"--flagfile={found[base]}"]) if base
                 else ("", "the flag defaults", [])]
    if base and flagfiles:
        bases = [(n, s, [f"--flagfile={found[base]}", *a]) for n, s, a in bases]
    if not grid:
        if not (flagfiles or base):
            raise UsageError("nothing to run: give arm flagfiles, or --flagfile=BASE with --grid="
                             "FLAG=V1|V2 (python -m tfreg.sweep --help)")
        return [(safe_name(n), safe_name(n), s, a) for n, s, a in bases]
    out = []
    for name, source, argv in bases:
        for point in itertools.product(*(values for _, values in grid)):
            pairs = [f"{flag}={value}" for (flag, _), value in zip(grid, point)]
            shown = [f"{flag}={_shown(value, values)}" for (flag, values), value in zip(grid, point)]
            full, previous = ((f"{name}+{'+'.join(n)}" if flagfiles else "+".join(n))
                              for n in (shown, pairs))
            out.append((safe_name(full), safe_name(previous), f"{source} with --{' --'.join(pairs)}",
                        argv + [f"--{p}" for p in pairs]))
    return out


def _config(argv, source):
    try:
        cfg = tfreg_flags.parse_args(["tfreg.run", *argv])
        validation.validate(cfg)
        validation.check_files(cfg)
    except UsageError as e:
        raise UsageError(f"{source}: {e}") from None
    for name in ("overwrite", "dry_run"):
        if getattr(cfg.run, name):
            raise UsageError(f"{source}: --{name}: {SWEEP_OWNED[name]}")
    return cfg


# What a sweep's runs default to before their flagfiles and the sweep's own flags: no SavedModel
# (a study needs the numbers, not a serving model; export one later from model.keras,
# docs/guide/serving.md). A flagfile or the sweep's command line with --saved_model turns it back on.
SWEEP_DEFAULTS = ("--nosaved_model",)


def plan(arm_list, seeds, overrides, sweep_dir):
    """Every run, validated; two runs in one directory is an error."""
    sweep_dir = pathlib.Path(sweep_dir).absolute()
    planned, owner = [], {}
    for name, source, argv in arm_list:
        argv = [*SWEEP_DEFAULTS, *argv]
        arm_seeds = seeds if seeds is not None else [_config(argv + overrides, source).run.seed]
        for seed in arm_seeds:
            run_dir = sweep_dir / name / f"seed_{seed}"
            if run_dir in owner:
                raise UsageError(f"{owner[run_dir]} and {source} both resolve to {run_dir}; "
                                 "give the arms distinct names")
            owner[run_dir] = source
            cfg = _config(argv + overrides + [f"--seed={seed}", f"--run_dir={run_dir}"], source)
            planned.append(PlannedRun(name, seed, run_dir, source, cfg,
                                      runs.FLAGS_HEADER + config_lib.to_flagfile(cfg)))
    _refuse_grid_spellings(planned)
    return planned


def _refuse_grid_spellings(planned):
    """Two grid points of one flagfile that resolve to the same flags (one value spelt twice,
    `0.1|0.10|1e-1`) would run one experiment as several arms."""
    seen = {}
    for run in planned:
        if " with --" not in run.source:
            continue
        key = (run.source.split(" with --")[0], run.seed,
               config_lib.to_flagfile(run.cfg.replace(run_dir="")))
        if key in seen and seen[key] != run.arm:
            raise UsageError(f"grid arms {seen[key]} and {run.arm} are the same experiment (one "
                             "value spelt two ways); list each value once in --grid")
        seen.setdefault(key, run.arm)


def identical_arms(planned):
    """{arm: the earlier arm it is identical to}: arms whose runs have, seed for seed, the same
    configuration apart from the run directory (a flagfile that only includes another's, or a grid
    point that repeats a flagfile arm) are one experiment; the sweep runs the first only."""
    runs_of = {}
    for run in planned:
        text = config_lib.to_flagfile(run.cfg.replace(run_dir=""))
        runs_of.setdefault(run.arm, []).append((run.seed, text))
    first, same = {}, {}
    for arm, key in runs_of.items():
        key = tuple(sorted(key))
        if key in first:
            same[arm] = first[key]
        else:
            first[key] = arm
    return same


def check_existing(planned):
    """A run directory that already holds a run with other flags (a flagfile edited since) is an
    error: skipping it would report stale results, resuming it would mix two experiments (and
    tfreg.run refuses it). Display flags may differ, and a finished run is compared on the flags
    both know (flags added to tfreg since it ran do not make it stale)."""
    defaults = config_lib.default_flagfile()
    for run in planned:
        path = run.dir / "flags.txt"
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{path} cannot be read as a flagfile ({type(e).__name__}); delete "
                             "that run directory to start the run over") from None
        if state(run) == "finished":
            old, new = runs.parse_flagfile(text), run.flags
            changed = sorted(k for k in old.keys() & new.keys()
                             if k not in ("run_dir", *rundir.DISPLAY_FLAGS) and old[k] != new[k])
        else:  # what tfreg.run's resume check will say
            changed = rundir.changed_flags(text, run.flags_text, defaults)
        if changed:
            raise UsageError(f"{run.dir} holds a run started with other flags (--"
                             + ", --".join(changed[:3]) + "); use another --sweep_dir, or delete "
                             "that run directory to start it over")


def check_data(planned, load=True):
    """What tfreg.run checks on the data before it writes anything, for every planned run that is
    not finished (validation.validate has checked its settings against the image size): with
    `load` the dataset itself (each distinct data setting is loaded once)."""
    train_examples = {}  # per data setting; the data itself is dropped once checked
    for run in planned:
        if state(run) == "finished":
            continue
        try:
            key = (repr(run.cfg.data), run.cfg.run.seed)
            if load and key not in train_examples:
                train_examples[key] = len(prepare.prepare(run.cfg).y_train)
            if key in train_examples:
                validation.check_steps_per_execution(
                    run.cfg, prepare.steps_per_epoch(run.cfg, train_examples[key]))
        except UsageError as e:
            raise UsageError(f"{run.source}: {e}") from None


def varied_flags(planned):
    """Flags whose value differs between runs (seed and run_dir aside), in flags.txt order."""
    tables = [run.flags for run in planned]
    return [name for name in tables[0] if name not in ("seed", "run_dir")
            and len({t.get(name) for t in tables}) > 1]


def state(run):
    """'finished', 'failed', or 'unfinished' (never started, running, interrupted, crashed),
    from the run's summary.json."""
    status = (runs.read_summary(run.dir) or {}).get("status")
    if status in runs.FINISHED:
        return "finished"
    return "failed" if runs.status_kind(status) == "failed" else "unfinished"


def check_writable(sweep_dir):
    """SWEEP_DIR must be a folder we can create or write (checked before anything is written)."""
    probe = runs.unwritable(sweep_dir)
    if probe:
        raise UsageError(f"cannot write --sweep_dir={sweep_dir} ({probe} is not a writable folder)")
    for name in ("sweep.csv", "sweep.json"):
        entry = pathlib.Path(sweep_dir) / name
        if entry.exists() and not entry.is_file():
            raise UsageError(f"{entry} is not a file (the sweep writes its table there); move it "
                             "away or choose another --sweep_dir")
