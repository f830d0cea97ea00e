"""README's Layout table matches the files on disk: every module of annotate/ and its stage
packages is named in its row (issue 11: the table shows the new rooms)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["annotate", "annotate/data", "annotate/labeling", "annotate/analysis", "annotate/judges", "annotate/router",
            "annotate/study"]


def layout_rows() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Layout"):]
    table = table[:table.index("\n## ")]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| (.*) \|$", table, re.M)}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_on_disk_is_named_in_the_readme_layout_table(package):
    row = layout_rows()[package + "/"]
    modules = {p.stem for p in (ROOT / package).glob("*.py")} - {"__init__", "__main__"}
    assert [m for m in sorted(modules) if f"`{m}`" not in row] == []


def test_every_folder_in_the_layout_table_exists():
    assert [path for path in layout_rows() if not (ROOT / path).exists()] == []
