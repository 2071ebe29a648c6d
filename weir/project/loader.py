"""Load and validate a project folder, with errors that name file, line, field and fix."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from weir.errors import ProjectError, UnknownName, WeirError
from weir.project.base import FieldProblem
from weir.project.config import ProjectConfig, SourceConfig
from weir.project.privacy import check_subjects

M = TypeVar("M", bound=BaseModel)

PROJECT_FILE = "weir.yml"
SOURCES_DIR = "sources"


@dataclass(frozen=True)
class ProjectFiles:
    """A validated project folder."""

    root: Path
    config: ProjectConfig
    sources: dict[str, SourceConfig]

    @property
    def state_dir(self) -> Path:
        return (self.root / self.config.state_dir).resolve()

    @property
    def lake_location(self) -> str:
        """Where the lake's files live: ``s3://bucket/prefix``, or a local folder's path."""
        lake = self.config.lake
        if lake is None:
            return str(self.state_dir / "lake")
        if "://" in lake:
            return lake
        return str((self.root / lake).resolve())

    @property
    def spill_dir(self) -> Path:
        """Where DuckDB sessions spill what does not fit in ``duckdb.memory_limit``."""
        spill = self.config.duckdb.spill_dir
        return self.state_dir / "spill" if spill is None else (self.root / spill).resolve()

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            known = f"known sources: {', '.join(sorted(self.sources)) or 'none'}"
            raise UnknownName.among("source", name, self.sources, known, quoted=True) from None


def find_root(start: Path) -> Path:
    """The project folder holding ``start`` (or one of its parents)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise ProjectError(
        f"no {PROJECT_FILE} in {start} or its parents",
        "run inside a project, pass --project DIR, or create one with `weir init DIR --example retail`",
    )


def load_project(root: Path) -> ProjectFiles:
    root = root.resolve()
    project_file = root / PROJECT_FILE
    if not project_file.is_file():
        raise ProjectError(
            f"{root} is not a weir project (no {PROJECT_FILE})",
            "create one with `weir init DIR --example retail` or pass --project DIR",
        )
    config = load_model(project_file, ProjectConfig, root)
    sources = load_named(root, SOURCES_DIR, SourceConfig, "source")
    check_subjects(config.privacy, sources, PROJECT_FILE)
    return ProjectFiles(root=root, config=config, sources=sources)


# libyaml's loader where PyYAML was built with it (several times faster), else PyYAML's own
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """YAML text as Python values, with the safe loader (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_LOADER)


def load_named(root: Path, folder: str, model: type[M], what: str) -> dict[str, M]:
    """Every ``folder/*.yml`` of the project as ``model`` (which has a ``name``), by name; a
    name declared twice is refused with the file that declares it again."""
    found: dict[str, M] = {}
    for path in sorted((root / folder).glob("*.yml")):
        loaded = load_model(path, model, root)
        name = str(loaded.model_dump(include={"name"})["name"])
        if name in found:
            raise ProjectError(
                f"{path.relative_to(root)}: {what} '{name}' is declared twice",
                f"give each {what} file its own name",
            )
        found[name] = loaded
    return found


def load_model(path: Path, model: type[M], root: Path | None = None) -> M:
    """Parse one YAML file into ``model``; every problem becomes a ProjectError."""
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = load_yaml(text)
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{shown}: not UTF-8 text ({exc.reason})", "save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProjectError(f"{shown}:{where} invalid YAML: {problem}", "fix the syntax") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{shown}: expected a mapping of settings", "see the example project")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # the node tree (with line numbers) is composed only to point at a problem
        tree = yaml.compose(text, Loader=_LOADER)
        raise ProjectError(*_explain(exc, shown, tree, model)) from None


def _explain(
    exc: ValidationError, shown: str, tree: Any, model: type[BaseModel]
) -> tuple[str, str]:
    first = exc.errors()[0]
    cause = (first.get("ctx") or {}).get("error")
    # a check across fields names the field it is about, so the error can point at its line
    loc = (*first["loc"], cause.field) if isinstance(cause, FieldProblem) else tuple(first["loc"])
    field = _dotted(loc)
    line = _line_of(tree, loc)
    where = f"{shown}:{line}" if line else shown
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    if first["type"] == "extra_forbidden":
        allowed = _allowed_fields(model, loc[:-1])
        hint = _did_you_mean(str(loc[-1]), allowed)
        fix = hint or f"allowed fields here: {', '.join(allowed)}"
        return f"{where}: unknown field '{field}'{suffix}", fix
    if first["type"] == "missing":
        return f"{where}: missing required field '{field}'{suffix}", f"add '{loc[-1]}:'"
    # a check that raised a WeirError (which is also a ValueError) says its own fix
    message = cause.what if isinstance(cause, WeirError) else str(first["msg"])
    message = message.removeprefix("Value error, ")
    own_fix = cause.fix if isinstance(cause, (FieldProblem, WeirError)) else None
    fix = own_fix or _fix_for(first)
    return f"{where}: {field}: {message}{suffix}" if field else f"{where}: {message}{suffix}", fix


def _fix_for(error: Any) -> str:
    ctx = error.get("ctx") or {}
    if "expected" in ctx:
        return f"use one of {ctx['expected']}"
    if "pattern" in ctx:
        return "use lower-case letters, digits and underscores, starting with a letter"
    return "see the example project under `weir init DIR --example retail`"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def where_in_config(root: Path, loc: tuple[Any, ...]) -> str:
    """``weir.yml:LINE`` of a field (``loc``: its path), as far as the file can be followed."""
    try:
        tree = yaml.compose((root / PROJECT_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return PROJECT_FILE
    line = _line_of(tree, loc)
    return f"{PROJECT_FILE}:{line}" if line else PROJECT_FILE


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of ``loc`` in a composed YAML tree, as deep as it can be followed."""
    best = None
    for part in loc:
        if node is None:
            break
        best = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
    if node is not None:
        best = node.start_mark.line + 1
    return best


def _allowed_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return []
    return list(current.model_fields)


def _did_you_mean(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else None
