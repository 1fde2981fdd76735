"""The package's layers and what each imports, read from the source (no import runs).

    python -m tests.layers          # one line per layer: the layers it imports

A layer is a folder of `mlserve/` (or a top-level module: errors, wire, bodies). The rules
the tests hold the package to are `RULES` below; this command draws the whole graph.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mlserve"
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")


def layer_of(module: str) -> str:
    """`mlserve.engine.core` -> `engine`; `mlserve.errors` -> `errors`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mlserve"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "mlserve":  # `from mlserve import wire`
                found.update(f"mlserve.{alias.name}" for alias in node.names)
    return found


def module_imports() -> dict[str, set[str]]:
    """Each mlserve module and the modules it imports."""
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer_graph() -> dict[str, set[str]]:
    """Each layer and the other layers (and web frameworks) it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imported in module_imports().items():
        here = layer_of(module)
        graph[here]  # a layer that imports nothing still shows
        for name in imported:
            if name.startswith("mlserve.") and layer_of(name) not in (here, "_version"):
                graph[here].add(layer_of(name))
            elif name.split(".")[0] in WEB_FRAMEWORKS:
                graph[here].add(name.split(".")[0])
    return dict(graph)


def main() -> None:
    for layer, imported in sorted(layer_graph().items()):
        sys.stdout.write(f"{layer:<12} -> {', '.join(sorted(imported)) or '-'}\n")


if __name__ == "__main__":
    main()
