"""The landing page and CONTRIBUTING.md, which the documentation build (`make docs`, mkdocs
--strict) does not check: every relative link resolves, and README.md's results table says what
reports/README.md says (the claimed comparisons and their verdicts, per study and in all)."""

import collections
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
VERDICTS = ("agrees", "disagrees", "equivalent", "inconclusive", "identical", "n/a")


@pytest.mark.parametrize("page", ["README.md", "CONTRIBUTING.md"])
def test_every_relative_link_resolves(page):
    text = (ROOT / page).read_text()
    links = re.findall(r"\]\(((?!https?:|#)[^)\s]+)\)", text)
    assert links
    broken = [link for link in links if not (ROOT / link.split("#")[0]).exists()]
    assert not broken, f"{page} links to missing files: {broken}"


def test_the_results_table_has_the_index_verdicts():
    index = (ROOT / "reports" / "README.md").read_text()
    total = re.search(r"^\d+ claimed comparisons: .*?\.$", index, flags=re.M).group(0)
    counts = collections.defaultdict(collections.Counter)
    for row in index.split("\n"):
        cells = [c.strip() for c in row.split("|")[1:-1]]
        if len(cells) == 9 and cells[0] not in ("study", "---") and cells[5] != "—":
            counts[cells[0]][cells[6]] += 1  # a comparison with a document's delta or claim
    readme = (ROOT / "README.md").read_text()
    assert f"({total[:-1]})" in readme
    for study, verdicts in counts.items():
        said = ", ".join(f"{verdicts[v]} {v}" for v in VERDICTS if verdicts[v])
        row = next(r for r in readme.split("\n") if r.startswith(f"| {study} ("))
        assert f"| {sum(verdicts.values())}: {said}" in row, (study, said, row)
