"""The tree reads as the architecture: folders named in the README, no import cycles,
no modules loaded by name, and no private attributes of libraries (aiogram, magic_filter...)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "catalog", "schedules")


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Our modules that `path` imports anywhere (inside functions too: they hide cycles)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found.update(n for n in names if n in modules)
    return found


def test_readme_names_every_folder_of_the_bot_package():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    folders = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "bot").glob("*/__init__.py"))
    assert folders, "bot/ has sub-packages"
    missing = [f for f in folders if f"`{f}/`" not in readme]
    assert not missing, f"README's layout table does not name {missing}"


def test_no_import_cycles():
    paths = _sources()
    modules = {_module(p) for p in paths}
    graph = {_module(p): _imports(p, modules) - {_module(p)} for p in paths}
    # a package's __init__ importing its own sub-modules is how a package gathers them
    for mod, deps in graph.items():
        graph[mod] = {d for d in deps if not mod.startswith(d + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_modules_loaded_by_name():
    hits = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in _sources()
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"import_module\(|__import__\(", line)
    ]
    assert not hits, hits


def test_no_private_attributes_of_other_code():
    """`x._name` is allowed only where `_name` is one of ours (defined in this code base)."""
    texts = {p: p.read_text(encoding="utf-8") for p in _sources()}
    ours: set[str] = set()
    for text in texts.values():
        ours.update(re.findall(r"(?:def|class)\s+(_\w+)", text))
        ours.update(re.findall(r"\b(?:self|cls)\.(_\w+)", text))
        ours.update(re.findall(r"^\s*(_\w+)\s*[:=]", text, flags=re.M))
        ours.update(re.findall(r"^\s*(_\w+)\s*:", text, flags=re.M))
    bad = []
    for path, text in texts.items():
        for i, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            found = re.findall(r"([\w\])]+)\.(_[a-zA-Z]\w*)", code)
            found += [("getattr", n) for n in re.findall(r"getattr\([^,]+,\s*f?[\"'](_[a-zA-Z]\w*)", code)]
            for obj, name in found:
                if (
                    obj in {"self", "cls"}
                    or name.startswith("__")
                    or name in ours
                    or (obj == "getattr" and any(o.startswith(name) for o in ours))
                ):
                    continue
                bad.append(f"{path.relative_to(ROOT)}:{i}: {obj}.{name}")
    assert not bad, "private attributes of other code: " + ", ".join(bad)


STARTS_PROCESS = {("subprocess", "run"), ("subprocess", "Popen"), ("asyncio", "create_subprocess_exec")}


def test_tests_that_start_processes_are_marked_e2e():
    """`pytest -m "not e2e"` is the fast lane: nothing in it starts a subprocess."""
    unmarked = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_marked = any(
            isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
            and "e2e" in ast.unparse(n.value)
            for n in tree.body
        )
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith(
                "test_"
            ):
                continue
            marked = module_marked or any("e2e" in ast.unparse(d) for d in node.decorator_list)
            starts = any(
                isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name)
                and (n.value.id, n.attr) in STARTS_PROCESS
                for n in ast.walk(node)
            )
            if starts and not marked:
                unmarked.append(f"{path.name}::{node.name}")
    assert not unmarked, f"start a process but are not marked e2e: {unmarked}"
