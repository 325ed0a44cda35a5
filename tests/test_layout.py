"""The package layout keeps its promises: no import cycles between modules, the CLI holds
no pipeline wiring, the pure core imports no I/O, and `digest --help` starts light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "digest"
HEAVY = (
    "sqlalchemy",
    "numpy",
    "scipy",
    "pydantic",
    "jinja2",
    "httpx",
    "aiosmtplib",
    "feedparser",
    "apscheduler",
    "alembic",
    "css_inline",
    "Stemmer",
    "torch",
)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(*, deferred: bool = False) -> dict[str, set[str]]:
    """Each digest module's imports of other digest modules: at module level, and with
    `deferred` also those inside functions (they run later, but they still tie the two
    modules together). `if TYPE_CHECKING:` blocks are left out: they never run."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if not isinstance(n, ast.If)]  # `if TYPE_CHECKING:`
        nodes = [
            node
            for part in top
            for node in (ast.walk(part) if deferred else (part,))
            if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        for node in nodes:
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("digest")
            ):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("digest"))
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(graph.get(mod, ()))
    return seen


def test_no_import_cycles() -> None:
    """No digest module reaches itself through its imports, those inside functions
    included."""
    graph = module_imports(deferred=True)
    cycles = sorted(m for m in graph if m in _reach(graph, m))
    assert not cycles, cycles


def test_cli_holds_no_pipeline_wiring_and_commands_do_not_import_each_other() -> None:
    """The CLI's command modules import only options and report formatting at load time
    (everything else through digest.app inside the commands), never one another."""
    graph = module_imports()
    for name in ("digest.cli.run", "digest.cli.service"):
        assert graph[name] <= {"digest.cli.options", "digest.cli.report"}, graph[name]
    assert not any(
        "digest.run.once" in deps for mod, deps in graph.items() if mod.startswith("digest.cli")
    )


def test_pure_core_never_imports_io() -> None:
    """ranking, mail.render, mail.compose and decide reach neither the store, fetching nor
    delivery through their imports."""
    graph = module_imports()
    io = {"digest.store", "digest.fetch", "digest.mail.deliver", "digest.run", "digest.app"}
    for mod in graph:
        if mod.startswith("digest.ranking") or mod in (
            "digest.mail.render",
            "digest.mail.compose",
            "digest.decide",
        ):
            reached = {
                r for r in _reach(graph, mod) if any(r == i or r.startswith(i + ".") for i in io)
            }
            assert not reached, (mod, reached)


def test_modules_stay_small_and_are_not_named_after_history() -> None:
    """Every module is under ~400 lines, and none is named after a trick or a history
    rather than what it holds."""
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 420, (path, lines)
        assert path.stem not in ("shared", "wire", "transact", "extras", "misc", "utils"), path


def test_help_imports_nothing_heavy() -> None:
    """`digest --help` imports click and the command table only: none of the pipeline's
    third-party libraries (that is what keeps it well under 0.3 s; bench/startup.py times it)."""
    code = (
        "import sys\n"
        "from digest.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        f"heavy = {HEAVY!r}\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "print('heavy:', bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "heavy: []" in done.stdout, done.stdout
    assert "run" in done.stdout and "serve" in done.stdout
