"""MkDocs hooks (mkdocs.yml `hooks:`): the parts of the documentation that are generated, so they
cannot drift from the code, and the check that every public name has a docstring.

- docs/index.md (`<!-- tfreg:readme -->`) is README.md, the landing page, with its links made to
  work on the site: `docs/x.md` becomes `x.md`; a link to a file outside docs/ (a study's report)
  becomes its path in code formatting, as the site has no copy of it.
- docs/flags.md: `<!-- tfreg:run-flags -->` becomes a table of every `tfreg.run` flag, section by
  section, from the absl definitions (`tfreg.flags.define_flags`, `tfreg.flags.SECTIONS`);
  `<!-- tfreg:help sweep -->`, `report` and `analyze` become the tools' `--help` text.
- docs/api.md: every name in the `__all__` of a module rendered there (`::: tfreg.layers`) must
  have a docstring of its own, and so must the module; one that has none is a warning, which
  `mkdocs build --strict` turns into a failed build (mkdocstrings alone renders it without a word).
- `RuntimeDocstrings`, a griffe extension (mkdocs.yml, mkdocstrings' `extensions`): a class whose
  docstring is built when its module runs (`__doc__ = TEXT.format(...)`, one Args text shared by
  several classes) gets that text; griffe reads the source without running it and would find none.

    python -m tools.docs_hooks          # print docs/flags.md as the build renders it
"""

import argparse
import contextlib
import inspect
import io
import logging
import os
import pathlib
import re
import sys

import griffe

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tfreg from this tree, whichever folder mkdocs runs in

from tfreg import environment  # noqa: E402

environment.configure()  # TensorFlow, imported for RuntimeDocstrings, quiet as in tfreg's tools
log = logging.getLogger("mkdocs.plugins.tfreg")  # warnings here fail `mkdocs build --strict`

HELP_WIDTH = "100"  # argparse wraps help to $COLUMNS; fixed so the page is the same everywhere


def _cell(text):
    """Help text as a table cell, shown as written: `|` escaped, `<`, `>` not HTML
    (runs/<model>_...), `_` and `*` not emphasis (--val_split and --train_examples in one help)."""
    text = str(text).replace("\n", " ")
    if text.startswith("`"):
        return text.replace("|", "\\|")
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("_", "\\_"), ("*", "\\*"),
                          ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, escaped)
    return text


def _default(flag):
    value = flag.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return f"`{value}`" if value != "" else "(empty)"


def run_flags_markdown():
    """Every tfreg.run flag as one table per section: name, kind or choices, default, help."""
    from absl import flags

    from tfreg import flags as tfreg_flags

    fv = flags.FlagValues()
    tfreg_flags.define_flags(fv)
    lines = []
    for section, names in tfreg_flags.SECTIONS.items():
        lines += [f"### {section}", "", "| flag | kind | default | help |", "|---|---|---|---|"]
        for name in names:
            flag = fv[name]
            choices = getattr(flag.parser, "enum_values", None)
            help_text = flag.help
            if choices:  # absl puts "<a|b|c>: " before an enum's help; the kind column has them
                kind = " ".join(f"`{c}`" for c in choices)
                help_text = re.sub(r"^<[^>]*>: ", "", help_text)
            else:
                kind = flag.flag_type().replace("comma separated list of strings", "list")
            cells = (f"`--{name}`", kind, _default(flag), help_text)
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _help(parse, argv):
    """What `parse(argv)` prints for --help (argparse prints it and exits 0)."""
    out = io.StringIO()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            parse(argv)
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return out.getvalue().rstrip()


def tool_help_markdown(tool):
    """A tool's --help as code blocks; analyze's with each command's own."""
    if tool == "sweep":
        from tfreg.sweep import cli

        blocks = [_help(cli.parser().parse_args, ["--help"])]
    elif tool == "report":
        from tfreg.report import __main__ as report

        blocks = [_help(report.parse, ["--help"])]
    elif tool == "analyze":
        from tfreg.analysis import cli

        parser = cli.parser()
        commands = next(a.choices for a in parser._actions
                        if isinstance(a, argparse._SubParsersAction))
        blocks = [_help(parser.parse_args, ["--help"])]
        blocks += [_help(cli.parser().parse_args, [name, "--help"]) for name in commands]
    else:
        raise ValueError(f"no --help for {tool!r}")
    return "\n\n".join(f"```\n{b}\n```" for b in blocks)


LINK = re.compile(r"\[([^\]]+)\]\(((?!https?:|#)[^)]+)\)")


def readme_page():
    """README.md for docs/index.md: links into docs/ relative to it, other paths as code."""
    def link(match):
        label, target = match.groups()
        if target.startswith("docs/") and target != "docs/":  # mkdocs --strict checks these
            return f"[{label}]({target[len('docs/'):]})"
        if label.strip("`").rstrip("/") in (target.rstrip("/"), target.removesuffix("/README.md")):
            return f"`{target}`"
        return f"{label} (`{target}`)"

    return LINK.sub(link, (ROOT / "README.md").read_text())


def flags_page(markdown):
    markdown = markdown.replace("<!-- tfreg:run-flags -->", run_flags_markdown())
    return re.sub(r"<!-- tfreg:help (\w+) -->", lambda m: tool_help_markdown(m.group(1)), markdown)


class RuntimeDocstrings(griffe.Extension):
    """A class body that assigns `__doc__` gets the docstring its module builds (importing it)."""

    def on_class_members(self, *, node, cls, agent, **kwargs):
        if cls.docstring is None and "__doc__" in cls.members:
            cls.del_member("__doc__")
            with environment.quiet_tensorflow_import():  # its C++ start-up lines
                text = griffe.dynamic_import(cls.path).__doc__
            if text:
                cls.docstring = griffe.Docstring(inspect.cleandoc(text), parent=cls,
                                                 parser=agent.docstring_parser,
                                                 parser_options=agent.docstring_options)


def undocumented(module_name):
    """The names of `module_name`'s __all__ (and the module itself) that have no docstring of
    their own, read as mkdocstrings reads them (griffe, with RuntimeDocstrings)."""
    package = griffe.load(module_name.split(".")[0], search_paths=[str(ROOT)],
                          resolve_aliases=True, resolve_external=False,
                          extensions=griffe.load_extensions(RuntimeDocstrings))
    module = package[module_name.split(".", 1)[1]] if "." in module_name else package
    missing = [] if module.docstring else [module_name]
    for name in module.exports or ():
        member = module[str(name)]
        target = member.final_target if member.is_alias else member
        if not target.docstring or not target.docstring.value.strip():
            missing.append(f"{module_name}.{name}")
    return missing


def on_page_markdown(markdown, page, **kwargs):
    if page.file.src_uri == "index.md":
        return markdown.replace("<!-- tfreg:readme -->", readme_page())
    if page.file.src_uri == "flags.md":
        return flags_page(markdown)
    if page.file.src_uri == "api.md":
        for module_name in re.findall(r"^::: ([\w.]+)", markdown, flags=re.M):
            for name in undocumented(module_name):
                log.warning(f"docs/api.md: {name} has no docstring (a public name: document it)")
    return markdown


if __name__ == "__main__":
    print(flags_page((ROOT / "docs" / "flags.md").read_text()))
