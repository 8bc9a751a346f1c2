"""The documentation that describes the code stays true to it: every module is in
docs/architecture.md with its job, the rooms are layered as that page says, no
module imports itself back through others, no module outgrows 400 lines, the README
stays a guide (at most 400 lines) and every relative Markdown link resolves."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "retinaseg"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_MODULE_LINES = 400
README_LIMIT = 400
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")


def modules() -> list[str]:
    """Every module as docs/architecture.md names it: its path under src/retinaseg/."""
    return sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py"))


def documented() -> list[str]:
    return re.findall(r"^- `([\w/]+\.py)`: \S", ARCHITECTURE.read_text(), flags=re.M)


# The rooms of the top-level modules; every other module's room is its sub-package.
TOP_LEVEL_ROOMS = {"version.py": "base", "errors.py": "base", "checks.py": "base",
                   "registry.py": "base", "devices.py": "base", "names.py": "base", "__init__.py": "faces", "api.py": "faces",
                   "__main__.py": "entry"}


def room_of(path: str) -> str:
    return path.split("/")[0] if "/" in path else TOP_LEVEL_ROOMS[path]


def room_order() -> list[str]:
    """The rooms in the order the page lists them: the floors, ground first."""
    return list(dict.fromkeys(room_of(path) for path in documented()))


def module_name(path: str) -> str:
    parts = ["retinaseg", *Path(path).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def path_of(name: str) -> str | None:
    if name == "retinaseg":
        return "__init__.py"
    rel = Path(*name.split(".")[1:])
    for candidate in (rel.with_suffix(".py"), rel / "__init__.py"):
        if (PACKAGE / candidate).is_file():
            return str(candidate)
    return None


def imports_of(path: str) -> set[str]:
    """Every module of the package that ``path`` imports, at the top, in a function
    or for types only: each is a dependency a reader must know of."""
    tree = ast.parse((PACKAGE / path).read_text())
    package = module_name(path) if path.endswith("__init__.py") else \
        module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names
                          if path_of(f"{target}.{alias.name}")]
            candidates = submodules or [target]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        for name in candidates:
            if name.startswith("retinaseg") and (found_path := path_of(name)):
                found.add(found_path)
    found.discard(path)
    return found


def test_every_module_is_documented_once_and_no_ghosts():
    listed = documented()
    assert sorted(set(listed)) == sorted(listed), "a module is listed twice"
    missing = sorted(set(modules()) - set(listed))
    ghosts = sorted(set(listed) - set(modules()))
    assert not missing, f"add these to docs/architecture.md with their job: {missing}"
    assert not ghosts, f"docs/architecture.md names modules that do not exist: {ghosts}"


def test_no_room_imports_a_room_above_it():
    order = room_order()
    rank = {room: k for k, room in enumerate(order)}
    upward = []
    for path in modules():
        for target in imports_of(path):
            if rank[room_of(target)] > rank[room_of(path)]:
                upward.append(f"{path} -> {target}")
    assert not upward, f"imports that run back up a floor: {upward}"


def test_no_import_cycle():
    graph = {path: imports_of(path) for path in modules()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail(f"import cycle: {' -> '.join(trail[trail.index(nxt):] + [nxt])}")
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for path in graph:
        if path not in state:
            visit(path, [path])


@pytest.mark.parametrize("path", modules())
def test_no_module_is_over_400_lines(path):
    lines = len((PACKAGE / path).read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path} has {lines} lines; split it by job"


def test_readme_is_a_guide_of_at_most_400_lines():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_LIMIT, (f"README.md has {lines} lines (limit {README_LIMIT}): move "
                                   "details and results into docs/")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


def relative_links(text: str) -> list[str]:
    without_code = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    without_code = re.sub(r"`[^`\n]*`", "", without_code)
    targets = [a or b for a, b in LINK.findall(without_code)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_every_relative_link_in_readme_and_docs_resolves():
    broken = []
    for page in markdown_files():
        for target in relative_links(page.read_text()):
            path = unquote(target.split("#", 1)[0])
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, f"relative links to missing files: {broken}"


def test_the_link_check_sees_links_and_skips_code_and_urls():
    text = ("[a](docs/x.md) ![p](images/p.png) [b](https://e.org/y) [c](#anchor) "
            "`[d](not/a/link.md)`\n```\n[e](in/code.md)\n```\n[f](../g.md#h)")
    assert relative_links(text) == ["docs/x.md", "images/p.png", "../g.md#h"]
