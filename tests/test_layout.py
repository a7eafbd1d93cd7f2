"""The package layout promises of DESIGN.md."""

import subprocess
import sys


def test_sansio_import_loads_no_io_library() -> None:
    code = (
        "import sys, adk_realtime.sansio.events, adk_realtime.sansio.config;"
        "import importlib.util as u;"
        "mods=[m for m in ('adk_realtime.sansio.openai.protocol','adk_realtime.sansio.gemini.protocol','adk_realtime.sansio.audio') if u.find_spec(m)];"
        "[__import__(m) for m in mods];"
        "bad=[m for m in ('anyio','trio','asyncio','socket','ssl') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"sansio import pulled in: {out.stdout.strip()}"


def test_public_names_resolve_lazily() -> None:
    import adk_realtime

    assert adk_realtime.RealtimeConfig().instruction is None
    assert "RealtimeConfig" in dir(adk_realtime)


def test_every_public_name_resolves() -> None:
    import adk_realtime

    missing = [name for name in adk_realtime.__all__ if not hasattr(adk_realtime, name)]
    assert missing == []
    # The agent events a user matches on in ``agent.run(ctx)`` are among them.
    for name in ("AgentStarted", "AgentEnded", "ToolCallStarted", "ToolCallCompleted"):
        assert name in adk_realtime.__all__


def test_the_readme_folder_map_matches_the_package() -> None:
    """Every row of README's "Where things are" names a folder that is that import path."""
    import importlib
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = (root / "README.md").read_text()
    section = text.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z/]+)/` \| `([a-z_.]+)` \|", section, re.M)
    assert len(rows) >= 9
    for folder, module in rows:
        package = importlib.import_module(module)
        # The strict editable install links each file: resolve the link to the source.
        assert Path(package.__file__ or "").resolve().parent == root / folder, (folder, module)
        assert (root / folder / "__init__.py").is_file(), folder
    listed = {folder for folder, _ in rows}
    packages = {
        str(p.parent.relative_to(root))
        for layer in ("agent", "drivers", "sansio")
        for p in (root / layer).rglob("__init__.py")
    }
    assert packages <= listed, f"folders missing from README's map: {packages - listed}"


def test_rooms_stay_small() -> None:
    """No module over ~800 lines anywhere; no function in sansio/ over ~80 (docstring included)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    big_modules = []
    long_functions = []
    for layer in ("sansio", "drivers", "agent"):
        for path in (root / layer).rglob("*.py"):
            text = path.read_text()
            if text.count("\n") > 800:
                big_modules.append(str(path.relative_to(root)))
            if layer != "sansio":
                continue
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 80:
                        long_functions.append(f"{path.relative_to(root)}:{node.name} ({length})")
    assert big_modules == []
    assert long_functions == []


def test_class_names_are_unique_across_the_package() -> None:
    """A traceback or an ``isinstance`` reads one name as one thing (events above all)."""
    import ast
    from collections import defaultdict
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    where: dict[str, list[str]] = defaultdict(list)
    for layer in ("sansio", "drivers", "agent"):
        for path in sorted((root / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                    where[node.name].append(str(path.relative_to(root)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
