"""The layering of the code: no import circles, stages free of the shell, the ground floor at the bottom."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "schemas")
# From the ground floor up; a module may import its own floor and the floors below, never above.
FLOORS = (
    (
        "pipeline.errors",
        "pipeline.logs",
        "pipeline.memory",
        "pipeline.models",
        "pipeline.settings",
        "schemas",
    ),
    ("pipeline.stages", "pipeline.localkafka"),
    ("pipeline.envelope", "pipeline.process", "pipeline.enricher", "pipeline.wire", "pipeline.offline"),
    ("pipeline.stream", "pipeline.show"),
    ("pipeline.cli", "pipeline.demo"),
)
# Libraries of the shell that no stage may use: a stage knows nothing of Faust or Kafka.
SHELL_LIBRARIES = ("faust", "mode", "kafka", "aiokafka")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the project with the project modules (and top-level libraries) it imports,
    at module level or inside functions."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = _module_name(path)
            names: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module)
                    names.update(f"{node.module}.{alias.name}" for alias in node.names)
            found[name] = names
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _project_edges() -> dict[str, set[str]]:
    imports = _imports()
    modules = set(imports)
    return {m: {n for n in names if n in modules and n != m} for m, names in imports.items()}


def _circle_from(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    """A path of imports from ``start`` back to itself, if there is one."""
    stack, seen = [(start, [start])], {start}
    while stack:
        node, path = stack.pop()
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_two_modules_import_each_other_directly_or_round_a_circle() -> None:
    edges = _project_edges()
    circles = [" -> ".join(c) for m in sorted(edges) if (c := _circle_from(m, edges))]
    assert not circles, "import circles:\n" + "\n".join(circles)


def _floor(name: str) -> int | None:
    # The longest matching prefix decides (pipeline.stages before pipeline).
    matches = [(len(p), i) for i, floor in enumerate(FLOORS) for p in floor if _within(name, (p,))]
    return max(matches)[1] if matches else None


def test_imports_only_run_down_the_floors() -> None:
    wrong = []
    for module, names in _imports().items():
        if module == "pipeline":  # the empty top-level package
            continue
        here = _floor(module)
        assert here is not None, f"{module} is on no floor: add it to FLOORS"
        wrong += [
            f"{module} (floor {here}) imports {n} (floor {_floor(n)})"
            for n in names
            if (_floor(n) or 0) > here
        ]
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_stages_use_neither_faust_nor_kafka_nor_the_settings() -> None:
    wrong = [
        f"{module} imports {name}"
        for module, names in _imports().items()
        if _within(module, ("pipeline.stages",))
        for name in names
        if _within(name, (*SHELL_LIBRARIES, "pipeline.settings"))
    ]
    assert not wrong, "\n".join(wrong)
