"""Flagfiles: where a `--flagfile=PATH` is found, and the experiments that ship with tfreg.

absl opens every `--flagfile` as written, relative to the working directory, nested ones too, so a
study's flagfiles (which include each other as `--flagfile=experiments/<study>/base.flags`) worked
only from the repository root. tfreg expands every `--flagfile` itself before absl parses
(`expand`, called by `tfreg.flags.parse`, which every tool's flag parsing goes through), finding
each file by one rule (`resolve`):

- an absolute path (or `~/...`) as written;
- a flagfile named on the command line: in the working directory;
- a flagfile named inside another: in the including file's folder, then in each folder above it
  (so the repository-root form `experiments/<study>/base.flags` finds the copy in the tree the
  including file lives in: a clone, the installed package, or a study copied out for editing),
  then in the working directory;
- last, a path that starts with `experiments/` among the bundled experiments (`bundled_root`).

`--experiment=NAME` stands for `--flagfile=experiments/NAME.flags`. Expansion follows absl's own
reading (whole-line `#` and `//` comments, blank lines skipped, each other line one stripped
argument, a nested `--flagfile` expanded in place), so the resolved flags, and the run's
flags.txt, do not depend on where a file was found. No absl and no TensorFlow here.
"""

import os
import pathlib
import shutil

from tfreg.errors import UsageError

PREFIX = "experiments"  # the documented form: experiments/<study>/<arm>.flags
_PACKAGE = pathlib.Path(__file__).resolve().parent


def bundled_root():
    """The bundled experiments folder: tfreg/experiments in an installed wheel (setup.py copies
    experiments/ there), the repository's experiments/ in a clone (an editable install)."""
    for root in (_PACKAGE / PREFIX, _PACKAGE.parent / PREFIX):
        if (root / "quickstart.flags").is_file():
            return root
    return None


def _bundled(path):
    root = bundled_root()
    parts = pathlib.PurePath(path).parts
    if root is None or not parts or parts[0] != PREFIX or ".." in parts:
        return None
    return root.joinpath(*parts[1:])


def candidates(path, including=None):
    """The places `resolve` looks for `path`, in order (the first that exists wins)."""
    path = pathlib.Path(os.path.expanduser(path))
    if path.is_absolute():
        return [path]
    places = []
    if including is not None:
        folder = pathlib.Path(including).parent
        places += [parent / path for parent in (folder, *folder.parents)]
    places.append(pathlib.Path.cwd() / path)
    bundled = _bundled(path)
    if bundled is not None:
        places.append(bundled)
    return places


def resolve(path, including=None, what=None):
    """The absolute path of the flagfile `path` (as written on the command line, or on a
    `--flagfile=` line of the file `including`); UsageError naming it (as `what`, default
    --flagfile=PATH) when no place has it."""
    for place in candidates(path, including):
        if place.is_file():
            return place.absolute()
    what = (what or f"--flagfile={path}") + (f" (included by {including})" if including else "")
    if pathlib.PurePath(path).parts[:1] == (PREFIX,):
        raise UsageError(f"{what} is not in the working directory"
                         + (", the including file's folder or above it" if including else "")
                         + ", nor among the bundled experiments; `python -m tfreg experiments "
                           "list` lists them")
    raise UsageError(f"{what} does not exist; check the path (a relative path starts from the "
                     f"working directory, {os.getcwd()}"
                     + (", or from the including file's folder)" if including else ")"))


def experiment_path(name):
    """`--experiment=NAME` -> the flagfile path it stands for, experiments/NAME.flags."""
    name = name.strip().removesuffix(".flags").removeprefix(f"{PREFIX}/")
    if not name:
        raise UsageError("--experiment needs a name, e.g. --experiment=quickstart; "
                         "`python -m tfreg experiments` lists them")
    return f"{PREFIX}/{name}.flags"


def _directive(arg):
    """The file named by a --flagfile / --experiment argument (None: not one), and whether the
    name is in the next argument (`--flagfile FILE`)."""
    for flag in ("--flagfile", "-flagfile", "--experiment", "-experiment"):
        if arg == flag:
            return flag, True
        if arg.startswith(flag + "="):
            return flag, False
    return None, False


def _target(flag, value):
    """(the flagfile path a directive names, how to name it in an error)."""
    value = value.strip()
    if flag.endswith("experiment"):
        return experiment_path(value), f"--experiment={value}"
    return value, None


def expand(argv):
    """argv (argv[0] the program) with every --flagfile and --experiment replaced by the arguments
    its file holds, recursively; what absl would read, found by `resolve`."""
    out, rest = [argv[0]], list(argv[1:])
    while rest:
        arg = rest.pop(0)
        flag, separate = _directive(arg)
        if flag is None:
            out.append(arg)
            if arg == "--":  # absl stops reading flags here
                out += rest
                break
            continue
        if separate:
            if not rest:
                raise UsageError(f"{arg} needs a value: {arg}=FILE")
            value = rest.pop(0)
        else:
            value = arg.split("=", 1)[1]
        target, shown = _target(flag, value)
        if target:  # absl ignores an empty --flagfile=
            out += _lines(target, None, [], shown)
    return out


def _lines(path, including, stack, shown=None):
    file = resolve(path, including, shown and f"{shown} ({path})")
    if file in stack:
        raise UsageError(f"--flagfile={path} includes itself through its --flagfile lines; remove "
                         "the line that closes the loop")
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read --flagfile={path} ({file}): {type(e).__name__}; give a "
                         "text file of --flag=value lines") from None
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", "//")):
            continue
        flag, _ = _directive(line)
        if flag is not None and "=" in line:
            target, shown = _target(flag, line.split("=", 1)[1])
            if target:
                out += _lines(target, file, [*stack, file], shown)
        else:
            out.append(line.strip())
    return out


# ---- the bundled experiments: list and copy out ---------------------------------------------


def _root_or_error():
    root = bundled_root()
    if root is None:
        raise UsageError("this tfreg has no bundled experiments (tfreg/experiments is missing); "
                         "reinstall tfreg from its wheel or a clone")
    return root


def describe(path, name=""):
    """The first header line of a flagfile without its '# ' and its leading 'NAME: ' (the header
    spells `cs5489_lecture / mini / dropout: ...`): the experiment's one-line description."""
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("# ").strip()
            head, sep, rest = text.partition(": ")
            return rest if sep and head.replace(" ", "") == name else text
        if line.strip():
            break
    return ""


def names(prefix=""):
    """[(name, path)] of the bundled experiments under `prefix` (a study, or '' for all), sorted;
    NAME is what --experiment takes."""
    root = _root_or_error()
    start = root / prefix.strip("/") if prefix else root
    return sorted((p.relative_to(root).with_suffix("").as_posix(), p)
                  for p in start.rglob("*.flags"))


def listing(prefix=""):
    """The text `python -m tfreg experiments list [STUDY]` prints."""
    root = _root_or_error()
    prefix = prefix.strip("/").removeprefix(f"{PREFIX}/").removeprefix(PREFIX)
    if prefix and not (root / prefix).is_dir():
        raise UsageError(f"no bundled study {prefix!r}; `python -m tfreg experiments list` "
                         "lists them")
    rows, studies = [], {}
    for name, path in names(prefix):
        if prefix or "/" not in name:
            rows.append((name, describe(path, name)))
        else:
            study = name.split("/")[0]
            arm = name.count("/") == 1 and not name.endswith("/base")
            studies[study] = studies.get(study, 0) + arm
    width = max((len(n) for n in [*(n for n, _ in rows), *studies]), default=0)
    lines = [f"bundled experiments in {root / prefix if prefix else root}",
             "run one: tfreg-run --experiment=NAME   (or --flagfile=experiments/NAME.flags)", ""]
    lines += [f"  {n:{width}s}  {_cut(d, 96 - width)}" for n, d in rows]
    if studies:
        lines += ["", "studies (one flagfile per arm, mini/ for a 2-core CPU; "
                      "`list STUDY` shows its arms):"]
        for study, n in studies.items():
            readme = root / study / "README.md"
            lines.append(f"  {study:{width}s}  {n} arm{'s' * (n != 1)}"
                         + (f", {readme}" if readme.is_file() else ""))
    lines += ["", "copy one out to edit it: python -m tfreg experiments copy NAME [DEST]"]
    return "\n".join(lines)


def _cut(text, width):
    return text if len(text) <= width else text[:max(width - 3, 10)].rstrip() + "..."


def copy(name, dest=".", overwrite=False):
    """Copies the bundled experiment or study `name` to DEST/experiments/NAME(.flags), the path
    the documented commands use, so they run the copy from DEST; returns the paths written."""
    root = _root_or_error()
    name = name.strip().strip("/").removeprefix(f"{PREFIX}/").removesuffix(".flags")
    if ".." in pathlib.PurePath(name).parts:
        raise UsageError(f"{name!r}: give a bundled experiment's name, e.g. quickstart or "
                         "cs5489_lecture (`python -m tfreg experiments list`)")
    target_root = pathlib.Path(dest) / PREFIX
    if name and (root / name).is_dir():
        files = [p for p in sorted((root / name).rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts]
    elif name and (root / f"{name}.flags").is_file():
        files = [root / f"{name}.flags"]
    else:
        raise UsageError(f"no bundled experiment or study {name!r}; `python -m tfreg experiments "
                         "list` lists them")
    pairs = [(src, target_root / src.relative_to(root)) for src in files]
    existing = [str(dst) for _, dst in pairs if dst.exists()]
    if existing and not overwrite:
        raise UsageError(f"{existing[0]} already exists; edit that copy, or pass --overwrite to "
                         "replace it with the bundled one")
    try:
        for src, dst in pairs:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    except OSError as e:  # DEST a file, not writable, a full disk
        raise UsageError(f"cannot write {target_root} ({e.strerror or e}); give a DEST folder "
                         "you can write to") from None
    return [dst for _, dst in pairs]
