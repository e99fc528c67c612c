"""The command line: absl flags defined from the typed fields of `tfreg.config`, parsed into a Config.

`define_flags(flag_values)` registers one flag per config field on any `absl.flags.FlagValues`
(the command line uses the global `FLAGS`, tests fresh ones through `make_config`): its type from
the field's type, its default, help and check from the field. A field's check, and each
`config.CROSS_CHECKS` entry, runs as an absl validator, so a bad value fails at parse time with
absl's message. `parse_args(argv)` -> Config. Defaults live in tfreg/config.py only.
"""

import contextlib
import dataclasses
import io
import math
import re
import sys

from absl import flags

from tfreg import config
from tfreg import flagfiles
from tfreg.errors import UsageError

SECTIONS = {section: [f.name for f in dataclasses.fields(cls)]
            for section, cls in config.SECTIONS.items()}
INT_MAX = config.INT_MAX

# absl's wording of a parse error -> one line with the fix
_PARSE_FIXES = (
    (r"^(.*whole lines only.*)$", "{0}"),  # _no_inline_comment says it already
    (r"^(--no(\w+)=\S*) does not take an argument",
     "{0}: the --no form of a boolean flag takes no value; write --no{1} or --{1}=false"),
    (r"^flag (--(\w+)=\S*): \('Non-boolean argument",
     "flag {0} is not a boolean; write --{1}, --no{1} or --{1}=true/false"),
    (r"^(flag --\w+=[^:]*#.*)$",
     "{0}; a '#' after a value in a flagfile is part of the value (absl flagfiles take comments "
     "on whole lines only): put the comment on its own line"),
    (r"^(.*invalid literal for int\(\).*)$", "{0}; give a whole number"),
    (r"^(.*could not convert string to float.*)$", "{0}; give a number such as 0.1"),
    (r"^(Unknown command line flag '\w+')\. Did you mean: (.*) \?$",
     "{0}; did you mean {1}? (python -m tfreg.run --helpfull lists every flag)"),
    (r"^(Unknown command line flag .*)$",
     "{0}; python -m tfreg.run --helpfull lists every flag"),
)


def explain_parse_error(text):
    """absl's error text as one line that says what to do."""
    text = "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    # list values as typed (--a=1,x), not as absl's repr of the parsed list (--a=['1', 'x'])
    text = re.sub(r"(--\w+=)\[([^\]]*)\]",
                  lambda m: m[1] + ",".join(re.findall(r"'([^']*)'", m[2])), text)
    for pattern, fix in _PARSE_FIXES:
        match = re.search(pattern, text)
        if match:
            return fix.format(*match.groups())
    return text


def parse(fv, argv):
    """fv(argv): the arguments absl left over; absl's errors as one UsageError line with the fix.
    Every --flagfile and --experiment is expanded first (tfreg.flagfiles: found relative to the
    including file, the working directory or the bundled experiments), so absl opens no file."""
    argv = flagfiles.expand(list(argv))
    absl_stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(absl_stderr):
            rest = fv(argv)
    except (flags.Error, ValueError) as e:  # ValueError: --noflag=value
        raise UsageError(explain_parse_error(str(e))) from None
    sys.stderr.write(absl_stderr.getvalue())
    return rest


def _finite(validator, message):
    """A float flag's validator that also refuses nan and inf (which pass tests such as v > 0)."""
    def check(value):
        if not math.isfinite(value):
            raise flags.ValidationError("must be a finite number" if message is None else
                                        "must be finite and " + message.removeprefix("must be "))
        return validator is None or validator(value)
    return check, message or "must be a finite number"


def _no_inline_comment(validator, message):
    """A string flag's validator that also refuses 'value  # comment' from a flagfile."""
    def check(value):
        if re.search(r"\s#", value):
            raise flags.ValidationError(
                "ends in what looks like a comment, which absl flagfiles take on whole lines only; "
                "put the comment on its own line")
        return validator is None or validator(value)
    return check, message or "must not hold a comment"


def _bounded(validator, message):
    """An integer flag's validator that also refuses values above INT_MAX."""
    def check(value):
        if validator is not None and not validator(value):
            return False
        if value > INT_MAX:
            raise flags.ValidationError(f"must be <= {INT_MAX}")
        return True
    return check, message


def _definer(f):
    if f.metadata["choices"] is not None:
        return flags.DEFINE_enum
    return {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
            config.Floats: flags.DEFINE_list, config.Ints: flags.DEFINE_list}.get(
                f.type, flags.DEFINE_string)


def _typed(name, raw):
    """The config value of a flag's parsed absl value (ValueError when it does not convert)."""
    return config.parse_value(name, raw) if isinstance(raw, (str, list)) else raw


def _field_validator(f):
    check, message = f.metadata["check"], f.metadata["message"]

    def validator(raw):
        try:
            value = _typed(f.name, raw)
        except ValueError:
            return False
        return check(value)

    return (None if check is None else validator), message


def define_flags(fv=flags.FLAGS):
    """Registers every tfreg flag on `fv` (idempotent per FlagValues object)."""
    if "model" in fv:
        return fv
    for f in (f for cls in config.SECTIONS.values() for f in dataclasses.fields(cls)):
        definer = _definer(f)
        default = f.default
        kw = {}
        if definer is flags.DEFINE_enum:
            kw["enum_values"] = [str(c) for c in f.metadata["choices"]]
            default = str(default)
        elif definer is flags.DEFINE_list:
            default = [config.format_value(f.name, v) for v in default]
        elif definer is flags.DEFINE_string:
            default = config.format_value(f.name, default)
        definer(f.name, default, help=f.metadata["help"], flag_values=fv, **kw)
        validator, message = _field_validator(f)
        if definer is flags.DEFINE_float:  # shared by every float flag
            validator, message = _finite(validator, message)
        elif definer is flags.DEFINE_string:
            validator, message = _no_inline_comment(validator, message)
        elif definer is flags.DEFINE_integer:
            validator, message = _bounded(validator, message)
        if validator is not None:
            flags.register_validator(f.name, validator, message=message, flag_values=fv)
    for names, predicate, message in config.CROSS_CHECKS:
        flags.register_multi_flags_validator(list(names), _cross(predicate), message=message,
                                             flag_values=fv)
    return fv


def _cross(predicate):
    def check(values):
        try:
            typed = {name: _typed(name, raw) for name, raw in values.items()}
        except ValueError:
            return True  # the flag's own validator reports it
        return predicate(typed)
    return check


def from_flag_values(fv):
    """Config from parsed (and therefore validated) FlagValues."""
    return config.Config(**{
        section: cls(**{f.name: _typed(f.name, fv[f.name].value) if f.type is not str
                        else fv[f.name].value for f in dataclasses.fields(cls)})
        for section, cls in config.SECTIONS.items()})


def parse_args(argv):
    """Parses a command line (argv[0] is the program) into a Config; UsageError on bad input."""
    fv = define_flags(flags.FlagValues())
    rest = parse(fv, argv)  # absl's errors as one UsageError line with the fix
    if len(rest) > 1:
        raise UsageError(f"unexpected positional arguments {rest[1:]}; flags look like --name=value")
    return from_flag_values(fv)


def make_config(**overrides):
    """Config from flag defaults plus overrides, validated like the command line (for tests)."""
    argv = ["tfreg"]
    for name, value in overrides.items():
        if isinstance(value, bool):
            argv.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, (list, tuple)):
            argv.append(f"--{name}=" + ",".join(str(v) for v in value))
        else:
            argv.append(f"--{name}={value}")
    return parse_args(argv)
