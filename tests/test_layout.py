"""The code's layout rules, checked on the source: layers point one way, no module imports one
that imports it back, the CLI starts without the ML stack, and SQL stays in storage/."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("annotate", "storage")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Project modules a file imports anywhere (top level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def import_graph(folders: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    files = {module_name(p): p for folder in folders for p in (ROOT / folder).rglob("*.py")}
    return {name: imported_modules(path, set(files)) - {name} for name, path in files.items()}


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    circles = []
    for start in graph:                      # depth-first search for a path back to `start`
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    circles.append(" -> ".join(path + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    # a package's __init__ importing its own submodules (which import the package's siblings) is not a circle
    circles = [c for c in circles if not any(part.count(".") == 0 for part in c.split(" -> "))]
    assert not circles, "import circles:\n" + "\n".join(sorted(set(circles)))


def test_layers_point_down_pages_to_annotate_to_storage():
    graph = import_graph()
    for name, imports in graph.items():
        if name.startswith("storage"):
            assert not {m for m in imports if m.startswith("annotate")}, f"{name} imports annotate"
    for path in (ROOT / "annotate").rglob("*.py"):
        assert not re.search(r"^\s*(import|from) streamlit", path.read_text(encoding="utf-8"), re.M), \
            f"{path.relative_to(ROOT)} imports streamlit"


def test_no_sql_outside_storage():
    sql = re.compile(r"\b(SELECT\s+.+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)
    offenders = []
    for folder in ("annotate", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.search(node.value):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"SQL outside storage/: {offenders}"


def test_cli_imports_no_torch_transformers_or_scikit_learn():
    code = ("import sys, annotate.cli; "
            "print(sorted(m for m in ('torch', 'transformers', 'sklearn', 'sentence_transformers', 'datasets') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_labeling_imports_no_ml_stack():
    code = ("import sys, annotate.labeling.assignment, annotate.labeling.auth; "
            "print(sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
