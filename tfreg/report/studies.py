"""Study files: a study's reference table as TOML (the five built-in ones are tfreg/studies/*.toml,
shipped in the package), loaded and checked here. docs/guide/reports.md shows the format.

A study names its source document and setup, the arm that arms it does not list are compared
with, and groups of arms in the document's order. An arm holds the document's numbers (fractions:
57.28% -> 0.5728), where they come from, and the arm it is compared against; the delta (arm -
baseline) is what the report sets beside ours. An arm without numbers may claim a direction
(`claim = "higher"`); a study may claim one for every arm that changes one of `claim_flags`
(the lecture, which gives no numbers). An arm that is the same experiment as another arm of the
file says so (`same_as = "other"`): the report lists the two once (tfreg.report.aliases). A file
that breaks these rules is refused with one line that says what is wrong (errors.UsageError).
"""

import dataclasses
import importlib.resources
import math
import pathlib
import tomllib

from tfreg.errors import UsageError

FIGURES = ("test_accuracy", "accuracy_vs_dropout", "bn_dropout_heatmap", "agc_heatmap", "lr", "gap")
NUMBERS = ("test_accuracy", "best_test_accuracy", "train_loss", "train_accuracy", "test_loss",
           "val_loss", "val_accuracy")
DIRECTIONS = ("higher", "lower")


@dataclasses.dataclass(frozen=True)
class Ref:
    """One arm of a study: the document's numbers (fractions; None where it gives none)."""
    arm: str
    settings: str = ""
    source: str = ""
    baseline: str | None = None      # the arm it is compared with (None: it is a baseline)
    test_accuracy: float | None = None
    best_test_accuracy: float | None = None
    best_test_epoch: int | None = None
    train_loss: float | None = None
    train_accuracy: float | None = None
    test_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    claim: str | None = None          # the direction the document claims when it gives no number
    note: str = ""
    same_as: str | None = None        # another arm of the file that is the same experiment
    explained: str = ""               # what a run showed about a disagreement, and where


@dataclasses.dataclass(frozen=True)
class Study:
    name: str
    source: str                       # the document; "" for a report without a study file
    setup: str                        # the document's setup, in one sentence
    baseline: str                     # compared with arms the table does not list
    groups: tuple = ()                # ((title, (Ref, ...)), ...) in the document's order
    target_train_accuracy: float | None = None
    figures: tuple = ("test_accuracy", "lr", "gap")
    claim: str | None = None          # the direction expected of arms that change a claim flag
    claim_flags: frozenset = frozenset()
    argument: str = ""                # what --study said: a built-in name or a file's path

    @property
    def refs(self):
        return {r.arm: r for _, refs in self.groups for r in refs}

    @property
    def documented(self):
        """False for a plain report of a sweep (--baseline, no study file)."""
        return bool(self.source)


# field -> (type, what it is): a field that says what it is is required. Types as TOML gives
# them; an integer is accepted where a number belongs.
_STUDY_FIELDS = {
    "source": (str, "the source document"), "setup": (str, "the document's setup, one sentence"),
    "baseline": (str, "the arm that arms not listed are compared with"),
    "target_train_accuracy": (float, ""), "figures": (list, ""), "claim": (str, ""),
    "claim_flags": (list, ""), "groups": (list, ""),
}
_GROUP_FIELDS = {"title": (str, "the group's heading"), "arms": (list, "its arms")}
_ARM_FIELDS = {"arm": (str, "the arm's name, as its folder in the sweep"), "settings": (str, ""),
               "source": (str, ""), "baseline": (str, ""), "claim": (str, ""), "note": (str, ""),
               "explained": (str, ""), "same_as": (str, ""), "best_test_epoch": (int, ""), **{k: (float, "") for k in NUMBERS}}


_KINDS = {str: "a text", list: "a list", float: "a number", int: "a whole number"}


def builtin_names():
    return sorted(p.name.removesuffix(".toml") for p in _builtin_dir().iterdir()
                  if p.name.endswith(".toml"))


def _builtin_dir():
    return importlib.resources.files("tfreg") / "studies"


def resolve(argument):
    """The Study that --study names: a built-in name, or the path of a study file."""
    if argument in builtin_names():
        return parse((_builtin_dir() / f"{argument}.toml").read_text(), argument, argument)
    path = pathlib.Path(argument)
    if not path.is_file():
        raise UsageError(f"--study={argument}: neither a built-in study "
                         f"({', '.join(builtin_names())}) nor a study file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--study={argument}: cannot read it ({e})") from None
    return parse(text, path.stem, argument)


def parse(text, name, argument):
    """A Study from a study file's text; UsageError naming the file and the fault."""
    def bad(message):
        return UsageError(f"study file {argument}: {message}")

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise bad(f"not valid TOML ({e}); fix that line") from None
    _check(data, _STUDY_FIELDS, "the file", bad)
    groups = []
    for i, group in enumerate(data.get("groups", [])):
        _check(group, _GROUP_FIELDS, f"group {i + 1}", bad)
        refs = []
        for arm in group["arms"]:
            named = isinstance(arm, dict) and isinstance(arm.get("arm"), str)
            _check(arm, _ARM_FIELDS, f"arm {arm['arm']!r}" if named
                   else f"an arm of group {group['title']!r}", bad)
            refs.append(Ref(**{k: float(v) if _ARM_FIELDS[k][0] is float else v
                               for k, v in arm.items()}))
        groups.append((group["title"], tuple(refs)))
    if not all(isinstance(f, str) for f in data.get("claim_flags", ())):
        raise bad("claim_flags is a list of flag names")
    study = Study(name=name, source=data["source"], setup=data["setup"], baseline=data["baseline"],
                  groups=tuple(groups), claim=data.get("claim"),
                  target_train_accuracy=_float(data.get("target_train_accuracy")),
                  figures=tuple(data.get("figures", Study.figures)),
                  claim_flags=frozenset(data.get("claim_flags", ())), argument=argument)
    _check_study(study, data, bad)
    return study


def _float(v):
    return None if v is None else float(v)


def _check(table, fields, where, bad):
    """Fields known, required ones present, each of its type."""
    if not isinstance(table, dict):
        raise bad(f"{where} is not a table")
    for key, value in table.items():
        if key not in fields:
            raise bad(f"unknown field {key!r} in {where} (known: {', '.join(fields)}); fix its name")
        kind = fields[key][0]
        if isinstance(value, bool) or not (isinstance(value, kind) or
                                           kind is float and isinstance(value, int)):
            raise bad(f"{key} in {where} is {value!r}, not {_KINDS[kind]}")
    for key, (_, what) in fields.items():
        if what and key not in table:
            raise bad(f"{where} has no {key!r} ({what}); add it")


def _check_study(study, data, bad):
    if not study.source.strip():
        raise bad("source is empty; name the document the numbers come from")
    refs = study.refs
    arms = [r.arm for _, rs in study.groups for r in rs]
    twice = sorted({a for a in arms if arms.count(a) > 1})
    if twice:
        raise bad(f"arm {twice[0]!r} is defined twice; keep one")
    if refs and study.baseline not in refs:
        raise bad(f"baseline = {study.baseline!r} is not one of its arms; define it or fix the name")
    for ref in refs.values():
        if ref.baseline is not None and ref.baseline not in refs:
            raise bad(f"arm {ref.arm!r} is compared with {ref.baseline!r}, which the file does not "
                      "define; add that arm or fix the name")
        if ref.same_as is not None:
            _check_same_as(ref, refs, bad)
        if ref.claim is not None and ref.baseline is None:
            raise bad(f"arm {ref.arm!r} claims a direction but names no baseline to compare with")
        for key in NUMBERS:
            v = getattr(ref, key)
            if v is not None and not math.isfinite(v):
                raise bad(f"{key} of arm {ref.arm!r} is {v}; give a number or leave it out")
            if v is not None and "accuracy" in key and not 0 <= v <= 1:
                raise bad(f"{key} = {v:g} of arm {ref.arm!r} is not a fraction; write "
                          f"{v / 100:g} for {v:g}%")
    for claim in [study.claim] + [r.claim for r in refs.values()]:
        if claim is not None and claim not in DIRECTIONS:
            raise bad(f"claim = {claim!r}: write one of {', '.join(DIRECTIONS)}")
    if ("claim" in data) != ("claim_flags" in data):
        raise bad("claim and claim_flags go together: the direction expected of arms that change "
                  "one of the flags")
    if not all(isinstance(f, str) for f in study.claim_flags):
        raise bad("claim_flags is a list of flag names")
    unknown = [f for f in study.figures if f not in FIGURES]
    if unknown:
        raise bad(f"figures: unknown {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    target = study.target_train_accuracy
    if target is not None and not 0 < target <= 1:
        raise bad(f"target_train_accuracy = {target:g} is not a fraction in (0, 1]")


def _check_same_as(ref, refs, bad):
    """`same_as` names another arm of the file, which is no alias itself: one arm a group of
    identical arms is listed under, so no chains and no cycles."""
    target = refs.get(ref.same_as)
    if ref.same_as == ref.arm:
        raise bad(f"arm {ref.arm!r} is the same as itself; remove same_as")
    if target is None:
        raise bad(f"arm {ref.arm!r}: same_as = {ref.same_as!r} is not an arm of the file; define it "
                  "or fix the name")
    if target.same_as is not None:
        raise bad(f"arm {ref.arm!r}: same_as = {ref.same_as!r}, which is itself the same as "
                  f"{target.same_as!r}; write same_as = {target.same_as!r}")


STUDIES = {name: resolve(name) for name in builtin_names()}
