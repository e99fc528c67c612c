"""Arms that are one experiment, listed once (issue 23: a report a reader can use).

Three things say that arm A is the same experiment as arm T: the sweep that planned both found
their configurations identical and ran T only (SWEEP_DIR/sweep.json "identical": {A: T}); the
study file says so (`same_as = "T"` in A's entry); or the runs of both recorded the same flags
(every flag but the seed and the run directory). The report then lists the group once,
under the first arm that has runs (in the report's order), named by every member
(`multiscale_head = opt_adam`); a comparison that names any member uses those runs.

Real runs come first: an arm the study file lists that has finished runs of its own keeps its own
row with them, even when it is identical to another (a report of runs made before the sweep knew
the two were one experiment stays as it was). An identical arm the study does not list has its
runs left out, as a copy of the group's.

A sweep that kept a folder's old name to resume it (`norm_stages=+dropout_rates=`) records the
readable one (sweep.json "names": {folder: name}), and the report shows that.
"""

import dataclasses
import json
import pathlib

from tfreg.report import collect


def _sweep_files(inputs):
    """sweep.json of each input and of the sweeps nested in it (a study's grids)."""
    for given in inputs:
        root = pathlib.Path(given)
        if root.is_dir():
            yield from [root / "sweep.json", *sorted(root.glob("*/**/sweep.json"))]


def recorded(inputs):
    """({alias: target}, {folder: readable name}) from the sweep.json files under the inputs."""
    identical, names = {}, {}
    for path in _sweep_files(inputs):
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict):
            continue
        for key, into in (("identical", identical), ("names", names)):
            table = meta.get(key)
            if isinstance(table, dict):
                into.update({k: v for k, v in table.items()
                             if isinstance(k, str) and isinstance(v, str)})
    return identical, names


@dataclasses.dataclass
class Groups:
    """How the report lists arms: canonical[name] is the arm whose row stands for `name` (every
    name the report meets; an arm with a row of its own maps to itself); labels[arm] is that
    row's name; dropped[arm] the arm whose row holds this arm's runs' experiment (its own runs are
    left out)."""
    canonical: dict
    labels: dict
    dropped: dict

    def of(self, name):
        return self.canonical.get(name, name)

    def label(self, name):
        return self.labels.get(self.of(name), name)


def _same_flags(a, b):
    """Every recorded flag equal, seed and run directory aside. Stricter than the changes a report
    lists (collect.changed_flags): a flag one run records and the other does not, or an output
    flag, makes two arms two experiments here, as both were planned."""
    keys = (set(a) | set(b)) - {"seed", "run_dir"}
    return all(k in a and k in b and collect.flag_text(a[k]) == collect.flag_text(b[k]) for k in keys)


def group(order, arms, refs, identical=None, names=None):
    """Groups of the arms with finished runs (`order`: the report's order; `arms`: {arm: entries};
    `refs`: the study's {arm: Ref}), from the sweeps' recorded aliases, the study's same_as and
    equal recorded flags."""
    names = names or {}
    edges = list((identical or {}).items())
    edges += [(r.arm, r.same_as) for r in refs.values() if r.same_as]
    for i, a in enumerate(order):
        for t in order[:i]:
            if _same_flags(arms[a][0].run.flags, arms[t][0].run.flags):
                edges.append((a, t))
                break
    parent = {}

    def root(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, t in edges:
        ra, rt = root(a), root(t)
        if ra != rt:
            parent[ra] = rt
    members = {}
    for name in sorted({n for e in edges for n in e}):
        members.setdefault(root(name), []).append(name)
    position = {a: i for i, a in enumerate(dict.fromkeys([*refs, *order]))}
    canonical, labels, dropped = {}, {}, {}
    for group_members in members.values():
        ran = [a for a in order if a in group_members]
        if not ran:
            continue  # no member has runs here: nothing to list
        rep = ran[0]
        merged = []
        for m in sorted(group_members, key=lambda m: (position.get(m, len(position)), m)):
            if m == rep:
                continue
            if m in arms and m in refs:  # real runs of a listed arm: its own row
                continue
            canonical[m] = rep
            merged.append(m)
            if m in arms:
                dropped[m] = rep
        canonical[rep] = rep
        if merged:
            labels[rep] = " = ".join(names.get(m, m) for m in [rep, *merged])
    for a in order:
        canonical.setdefault(a, a)
        if a not in labels and a in names:
            labels[a] = names[a]
    return Groups(canonical, labels, dropped)
