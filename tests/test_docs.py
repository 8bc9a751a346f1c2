"""The docs keep up with the code: every module is in docs/architecture.md, the README stays
a guide (at most 400 lines), and every relative Markdown link resolves."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "retinaseg"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
README_LIMIT = 400

# A module as docs/architecture.md names it: its path under src/retinaseg/ in backticks,
# e.g. `pipeline/segment.py` or `hub/__init__.py` (the package itself).
MODULE_NAME = re.compile(r"`((?:[A-Za-z_]\w*/)*[A-Za-z_]\w*\.py)`")
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")


def package_modules() -> set[str]:
    """Every .py under src/retinaseg/, as a path relative to it, computed now."""
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
            if "__pycache__" not in p.parts}


def documented_modules() -> set[str]:
    return set(MODULE_NAME.findall(ARCHITECTURE.read_text()))


def test_architecture_names_every_module():
    missing = sorted(package_modules() - documented_modules())
    assert not missing, ("docs/architecture.md does not describe these modules of src/retinaseg/ "
                         f"(add one line each, as `room/module.py`: ...): {missing}")


def test_architecture_names_no_module_that_does_not_exist():
    unknown = sorted(documented_modules() - package_modules())
    assert not unknown, f"docs/architecture.md names modules that are not in src/retinaseg/: {unknown}"


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
