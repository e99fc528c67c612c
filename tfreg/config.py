"""Frozen configuration built from flags. Library code reads a `Config`, never absl FLAGS.

Each section is a frozen dataclass whose fields are exactly the flag names of that section in
`tfreg/flags.py` (no renaming, no second set of defaults), holding parsed values: list flags become
tuples of numbers, stage lists (--norm_stages, --agc_stages) a tuple of 1-based stages or None for
'all', --verbose an int. `to_flagfile` writes them back in flag syntax.
"""

import dataclasses

from absl import flags

from tfreg import flags as tfreg_flags
from tfreg.errors import UsageError  # noqa: F401  (re-exported: callers catch config.UsageError)


def _section_class(section):
    fv = tfreg_flags.define_flags(flags.FlagValues())
    fields = [(name, object) for name in tfreg_flags.SECTIONS[section]]
    del fv
    return dataclasses.make_dataclass(f"{section.capitalize()}Config", fields, frozen=True)


RunConfig = _section_class("run")
DataConfig = _section_class("data")
AugmentConfig = _section_class("augment")
ModelConfig = _section_class("model")
TrainConfig = _section_class("train")
EvalConfig = _section_class("eval")
_CLASSES = {"run": RunConfig, "data": DataConfig, "augment": AugmentConfig,
            "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}


@dataclasses.dataclass(frozen=True)
class Config:
    run: RunConfig
    data: DataConfig
    augment: AugmentConfig
    model: ModelConfig
    train: TrainConfig
    eval: EvalConfig

    def replace(self, **changes):
        """Returns a copy with flag values changed, e.g. cfg.replace(epochs=2)."""
        sections = {s: dataclasses.asdict(getattr(self, s)) for s in _CLASSES}
        for name, value in changes.items():
            section = _section_of(name)
            sections[section][name] = value
        return Config(**{s: _CLASSES[s](**v) for s, v in sections.items()})

    def flat(self):
        """{flag name: value} over every section."""
        out = {}
        for section in _CLASSES:
            out.update(dataclasses.asdict(getattr(self, section)))
        return out


def _section_of(name):
    for section, names in tfreg_flags.SECTIONS.items():
        if name in names:
            return section
    raise KeyError(f"no tfreg flag named {name!r}")


def _convert(name, value):
    if name in tfreg_flags.FLOAT_LIST_FLAGS:
        return tuple(float(v) for v in value)
    if name in tfreg_flags.INT_LIST_FLAGS:
        return tuple(int(v) for v in value)
    if name in tfreg_flags.STAGE_LIST_FLAGS:
        return tfreg_flags.parse_stages(value)
    if name == "verbose":
        return int(value)
    return value


def from_flag_values(fv):
    """Config from parsed (and therefore validated) FlagValues."""
    sections = {}
    for section, cls in _CLASSES.items():
        sections[section] = cls(**{n: _convert(n, fv[n].value) for n in tfreg_flags.SECTIONS[section]})
    return Config(**sections)


def parse_args(argv):
    """Parses a command line (argv[0] is the program) into a Config; UsageError on bad input."""
    fv = tfreg_flags.define_flags(flags.FlagValues())
    rest = tfreg_flags.parse(fv, argv)  # absl's errors as one UsageError line with the fix
    if len(rest) > 1:
        raise UsageError(f"unexpected positional arguments {rest[1:]}; flags look like --name=value")
    return from_flag_values(fv)


def make_config(**overrides):
    """Config from flag defaults plus overrides, validated like the command line (for tests)."""
    argv = ["tfreg"]
    for name, value in overrides.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            argv.append(f"--{name}" if value else f"--no{name}")
            continue
        argv.append(f"--{name}={value}")
    return parse_args(argv)


def to_flagfile(cfg):
    """A flagfile that repeats the run: one --flag=value per line, by section."""
    lines = []
    for section in _CLASSES:
        lines.append(f"# {section}")
        for name, value in dataclasses.asdict(getattr(cfg, section)).items():
            if name in tfreg_flags.INVOCATION_FLAGS:
                continue
            if name in tfreg_flags.STAGE_LIST_FLAGS:
                lines.append(f"--{name}=" + format_stages(value))
            elif isinstance(value, bool):
                lines.append(f"--{name}" if value else f"--no{name}")
            elif isinstance(value, tuple):
                lines.append(f"--{name}=" + ",".join(_fmt(v) for v in value))
            else:
                lines.append(f"--{name}={_fmt(value)}")
    return "\n".join(lines) + "\n"


def default_flagfile():
    """The flagfile of every default: stands in for flags an older run's flags.txt predates."""
    return to_flagfile(make_config())


def format_stages(stages):
    """None -> 'all', () -> '', (1, 3) -> '1,3': the flag syntax of a parsed stage list."""
    return "all" if stages is None else ",".join(str(s) for s in stages)


def _fmt(value):
    return repr(value) if isinstance(value, float) else str(value)


def recorded_flagfile(flat):
    """The flagfile text of the flags a run recorded in its config.json ({name: JSON value}), or
    None when they cannot be read back (flags tfreg no longer has are left out)."""
    known = {n for names in tfreg_flags.SECTIONS.values() for n in names}
    try:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in flat.items() if k in known}
        return to_flagfile(make_config().replace(**values))
    except Exception:  # noqa: BLE001 - a hand-edited or foreign config.json: nothing to compare
        return None
