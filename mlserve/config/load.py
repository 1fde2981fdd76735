"""Reading a manifest: YAML in, a validated `Manifest` out, or one clear `ManifestError`.

A broken manifest is refused before anything starts, with one message that names the file,
the model, the field and the YAML line, so a user can fix it without reading a traceback.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mlserve import runtimes
from mlserve.config.schema import InvalidOptions, Manifest, ModelSpec, RoutingSpec
from mlserve.errors import ManifestError


def load_manifest(path: str | Path, *, check_files: bool = True) -> Manifest:
    """Read, validate and resolve a manifest; raise ManifestError with one clear message."""
    path = Path(path)
    if path.is_dir():
        if not (path / "models.yaml").is_file():
            raise ManifestError(f"{path} is a folder with no models.yaml in it")
        path = path / "models.yaml"
    try:
        text = _read_capped(path)
    except UnicodeDecodeError:
        raise ManifestError(
            f"{path} is not a manifest (not UTF-8 text: a model file?); pass the models.yaml "
            "that names it"
        ) from None
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror}") from None
    try:
        loader = _BoundedLoader(text)
        try:
            root = loader.get_single_node()
            if root is not None:
                _check_expansion(path, root)
            raw = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context, opened = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and opened and (not mark or opened.line != mark.line):
            problem += f" ({context} that starts at line {opened.line + 1})"
        raise ManifestError(f"{path}{where}: invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: expected a mapping with a 'models' list at the top")
    raw.pop("source", None)
    try:
        manifest = Manifest.model_validate({**raw, "source": path})
    except ValidationError as exc:
        raise ManifestError(_explain(path, raw, root, exc)) from None
    manifest = _resolve_paths(manifest, path.parent)
    _check_consistency(manifest, raw, root, check_files)
    return manifest


# A manifest of a thousand models is a few hundred KB; a bigger file is a mistake or an attack
# (a 200 MB one took over two minutes to refuse).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# YAML aliases (`*a`) repeat a node without copying it: eight levels of nine aliases each are
# 9**8 nodes to whatever walks the document (validation, a reload's comparison). What the
# document would be with every alias expanded is bounded instead.
MAX_EXPANDED_NODES = 200_000


MAX_NESTING = 64  # collections inside collections; a manifest needs about six


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses nesting past MAX_NESTING while it scans: PyYAML's scanner is
    quadratic in the depth of flow collections (5,000 `[` took 5 s) and its composer recursive."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_NESTING:
            self._too_deep()
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_NESTING:
            self._too_deep()
        return bool(super().add_indent(column))

    def _too_deep(self) -> None:
        raise yaml.scanner.ScannerError(
            problem=f"nested more than {MAX_NESTING} levels deep", problem_mark=self.get_mark()
        )


def _absolute(path: Path) -> Path:
    """`path` absolute, `.` and `..` taken out by name; no link resolved (a folder on the
    way may be the link that is repointed)."""
    return Path(os.path.abspath(path))


def _read_capped(path: Path) -> str:
    with path.open("rb") as file:
        data = file.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{path}: a manifest is at most {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB; this one "
            "is bigger (a model file?)"
        )
    return data.decode("utf-8")


def _check_expansion(path: Path, root: yaml.Node) -> None:
    """Refuse a document that expands past MAX_EXPANDED_NODES; linear in the distinct nodes
    (each node's expanded size is computed once)."""
    sizes: dict[int, int] = {}

    def expanded(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a node that contains itself counts once (PyYAML allows it)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(expanded(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(expanded(k) + expanded(v) for k, v in node.value)
        else:
            total = 1
        sizes[id(node)] = total = min(total, MAX_EXPANDED_NODES + 1)
        if total > MAX_EXPANDED_NODES:
            raise ManifestError(
                f"{path}: the YAML expands to more than {MAX_EXPANDED_NODES:,} values through "
                "its aliases (*name); write the repeated parts out, or fewer of them"
            )
        return total

    expanded(root)


def _resolve_paths(manifest: Manifest, folder: Path) -> Manifest:
    """Model paths, and runtime options that are paths, relative to the manifest's folder
    (the folder of the path it was read by, a link's own folder). They are made absolute
    but their links are kept, so that each load follows them again: Kubernetes updates a
    ConfigMap or Secret volume by repointing its `..data` link."""
    folder = folder.absolute()
    models = []
    for model in manifest.models:
        update: dict[str, Any] = {"path": _absolute(folder / model.path)}
        paths = {k: _absolute(folder / v) for k, v in model.options if isinstance(v, Path)}
        if paths:
            update["options"] = model.options.model_copy(update=paths)
        models.append(model.model_copy(update=update))
    return manifest.model_copy(update={"models": models})


def _check_consistency(manifest: Manifest, raw: Any, root: Any, check_files: bool) -> None:
    src = manifest.source
    seen: dict[str, int] = {}
    defaults: dict[str, str] = {}
    for index, model in enumerate(manifest.models):
        where = _where(src, model.name, model.version, "models", index, root=root)
        if model.key in seen:
            raise ManifestError(
                f"{where}: duplicate model {model.name!r} version {model.version!r} "
                f"(also models[{seen[model.key]}]); give each entry a distinct 'version'"
            )
        seen[model.key] = index
        if model.default:
            if model.name in defaults:
                raise ManifestError(
                    f"{where}, field 'default': model {model.name!r} has two default versions "
                    f"({defaults[model.name]!r} and {model.version!r}); mark only one"
                )
            defaults[model.name] = model.version
        if check_files and not model.path.exists():
            raise ManifestError(
                f"{_where(src, model.name, model.version, 'models', index, 'path', root=root)}: "
                f"model file not found: {model.path}"
            )
    names = {m.name for m in manifest.models}
    _check_routing(manifest, root)
    default_model = manifest.server.default_model
    if default_model is not None and default_model not in names:
        raise ManifestError(
            f"{_where(src, None, None, 'server', 'default_model', root=root)}: "
            f"default_model {default_model!r} is not a model in this manifest "
            f"(models: {', '.join(sorted(names))})"
        )


def _check_routing(manifest: Manifest, root: Any) -> None:
    """Every alias, split and shadow names a version the manifest declares."""
    versions: dict[str, set[str]] = {}
    for model in manifest.models:
        versions.setdefault(model.name, set()).add(model.version)
    for name, routing in manifest.routing.items():
        problem = _routing_problem(manifest, name, routing, versions.get(name))
        if problem is not None:
            loc, message = problem
            where = _where(manifest.source, None, None, "routing", name, *loc, root=root)
            raise ManifestError(f"{where}: {message}")


def _routing_problem(
    manifest: Manifest, name: str, routing: RoutingSpec, known: set[str] | None
) -> tuple[tuple[str, ...], str] | None:
    """Where in `routing.NAME` the first problem is, and what it is."""
    if known is None:
        return (), f"{name!r} is not a model in this manifest"
    listed = ", ".join(sorted(known))
    for alias, target in routing.aliases.items():
        if alias in known:
            return ("aliases", alias), f"alias {alias!r} is also a version of {name!r}"
        if target not in known:
            return ("aliases", alias), f"no version {target!r} (versions: {listed})"
    for version in routing.traffic:
        if manifest.version_of(name, version) not in known:
            return ("traffic", version), f"no version {version!r} (versions: {listed})"
    total = sum(routing.traffic.values())
    if routing.traffic and abs(total - 100) > 1e-9:
        return ("traffic",), f"the percentages add up to {total:g}, not 100"
    shadow = routing.shadow
    if shadow is not None and manifest.version_of(name, shadow.version) not in known:
        return ("shadow", "version"), f"no version {shadow.version!r} (versions: {listed})"
    return None


def _explain(path: Path, raw: dict[str, Any], root: Any, exc: ValidationError) -> str:
    """Turn pydantic's errors into lines of: file, model, field, line, and what was expected;
    the first on the first line, each other one below it."""
    # An unknown key usually explains the rest (a misspelt `path` is also a missing one).
    errors = sorted(_flat_errors(exc), key=lambda e: e[0]["type"] != "extra_forbidden")
    lines = [_explain_one(path, raw, root, error, options) for error, options in errors]
    if len(lines) == 1:
        return lines[0]
    others = "\n".join(f"  also: {line}" for line in lines[1:])
    return f"{lines[0]} (and {len(lines) - 1} more problem(s), below)\n{others}"


def _explain_one(
    path: Path, raw: dict[str, Any], root: Any, first: Any, options: type[BaseModel] | None
) -> str:
    loc = tuple(first["loc"])
    name = version = None
    if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
        entry = raw.get("models", [])[loc[1]]
        if isinstance(entry, dict):
            name, version = entry.get("name"), entry.get("version")
    message = str(first["msg"]).removeprefix("Value error, ")
    field = str(loc[-1]) if loc else ""
    if first["type"] == "extra_forbidden":
        known = _known_keys(loc, options)
        close = difflib.get_close_matches(field, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
        message = f"unknown key {field!r}{hint}"
    elif first["type"] == "missing":
        message = f"missing required field {field!r}"
    return f"{_where(path, name, version, *loc, root=root)}: {message}"


ErrorDetail = Any  # one of pydantic's error dicts


def _flat_errors(exc: ValidationError) -> list[tuple[ErrorDetail, type[BaseModel] | None]]:
    """Every error, a runtime's option errors placed at their key in the model entry (with
    the options model they came from)."""
    out: list[tuple[ErrorDetail, type[BaseModel] | None]] = []
    for error in exc.errors():
        invalid = (error.get("ctx") or {}).get("error")
        if isinstance(invalid, InvalidOptions):
            model = runtimes.options_model(invalid.runtime)
            for inner in invalid.error.errors():
                out.append(({**inner, "loc": (*error["loc"], *inner["loc"])}, model))
        else:
            out.append((error, None))
    return out


def _known_keys(loc: tuple[Any, ...], options: type[BaseModel] | None = None) -> list[str]:
    if options is None:
        return _keys_along(Manifest, loc)
    inside = loc[2:]  # after ("models", index)
    if len(inside) == 1:  # a key of the entry itself: a common one or the runtime's own
        common = [k for k in ModelSpec.model_fields if k != "options"]
        return common + list(options.model_fields)
    return _keys_along(options, inside)


def _keys_along(schema: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    keyed = False  # the part is a key of a mapping (a model name under `routing`)
    for part in loc[:-1]:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        annotation = schema.model_fields[str(part)].annotation
        keyed = getattr(annotation, "__origin__", None) is dict
        inner = getattr(annotation, "__args__", (annotation,))
        nested = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nested is None:
            break
        schema = nested
    return [k for k in schema.model_fields if k != "source"]


def _where(path: Path, name: Any, version: Any, *loc: Any, root: Any) -> str:
    parts = [str(path)]
    if name is not None:
        parts.append(f"model {name!r}" + (f" version {version!r}" if version else ""))
    in_model = len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int)
    fields = [str(p) for p in (loc[2:] if in_model else loc) if not isinstance(p, int)]
    if fields:
        parts.append(f"field {'.'.join(fields)!r}")
    line = _line_of(root, loc)
    if line is not None:
        parts.append(f"line {line}")
    return ", ".join(parts)


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based YAML line of the deepest node that `loc` reaches."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
