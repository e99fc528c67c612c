"""The import graph of tfreg (every `import`, function-level ones too, read with ast): no cycle, and
no module imports from a layer above its own. The layers, bottom up (docs/contributing.md draws
them): a module may import from its own layer and the layers below."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

LAYERS = [
    # 0: plain Python: settings, run directories, errors; no TensorFlow, no absl
    ("tfreg", "tfreg.errors", "tfreg.choices", "tfreg.config", "tfreg.runs", "tfreg.rundir",
     "tfreg.timing", "tfreg.environment", "tfreg.hardware", "tfreg.flagfiles", "tfreg.plots",
     "tfreg.norm_stats"),
    ("tfreg.regularizers",),
    ("tfreg.data",),
    ("tfreg.models",),
    # the training library, its checks and export, and the public Keras API built on them
    ("tfreg.train", "tfreg.export", "tfreg.validation", "tfreg.layers", "tfreg.optimizers",
     "tfreg.losses", "tfreg.augment"),
    ("tfreg.flags",),  # absl: argv -> Config
    ("tfreg.sweep", "tfreg.report", "tfreg.analysis"),
    # command lines
    ("tfreg.run", "tfreg.analyze", "tfreg.cli", "tfreg.__main__", "tfreg.sweep.cli",
     "tfreg.sweep.__main__", "tfreg.report.__main__", "tfreg.analysis.cli"),
]


def modules():
    out = {}
    for path in sorted((ROOT / "tfreg").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path, known, top_level_only=False):
    """(tfreg modules, other top-level packages) that the file imports."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    ours, others = set(), set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known
                     else node.module for a in node.names]
        else:
            continue
        for name in names:
            (ours if name.split(".")[0] == "tfreg" else others).add(
                name if name.split(".")[0] == "tfreg" else name.split(".")[0])
    return ours, others


def layer(module):
    best = None
    for i, group in enumerate(LAYERS):
        for prefix in group:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (i, prefix)
    assert best is not None, f"{module} is in no layer of tests/test_imports.py"
    return best[0]


def graph():
    known = modules()
    return {name: imports(path, known)[0] for name, path in known.items()}


def test_no_module_imports_from_a_higher_layer():
    upward = [f"{a} (layer {layer(a)}) -> {b} (layer {layer(b)})"
              for a, targets in graph().items() for b in sorted(targets) if layer(b) > layer(a)]
    assert not upward, "\n".join(upward)


def test_models_and_data_do_not_import_each_other():
    """Siblings over the regularizers: what both need (the normalization statistics) sits below."""
    edges = [f"{a} -> {b}" for a, targets in graph().items() for b in sorted(targets)
             if (a.startswith("tfreg.models") and b.startswith("tfreg.data"))
             or (a.startswith("tfreg.data") and b.startswith("tfreg.models"))]
    assert not edges, "\n".join(edges)


def test_the_import_graph_has_no_cycle():
    edges = graph()
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    # a package's __init__ importing its own submodule is no cycle of ours
    cycles = [c for c in cycles if c.split(" -> ")[0] not in ("tfreg",)]
    assert not cycles, "\n".join(cycles)


def test_config_imports_neither_absl_nor_tensorflow():
    """tfreg.config and everything it imports, at any depth (module level: what loads with it)."""
    known = modules()
    seen, todo, third_party = set(), ["tfreg.config"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        ours, others = imports(known[name], known, top_level_only=True)
        third_party |= others
        todo += [m for m in ours if m in known]
    assert not third_party & {"absl", "tensorflow", "keras"}, (seen, third_party)
