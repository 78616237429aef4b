"""Annotation prompts: small YAML files (or folders) holding a Jinja template, the input fields it
takes, and, for task prompts, the JSON Schema of the answer.

A prompt file::

    name: my_rubric            # how -T / -S refer to it (default: the file name)
    kind: task                 # task (rates a row) or system (the system message)
    version: 1                 # bump to invalidate cached answers by hand
    description: One line shown by list-prompts.
    system: annotator          # default system prompt for this task (optional)
    inputs:                    # template variables filled from each row by jq expressions
      - {name: text, expression: .text, description: the document}   # format: text|conversation
    score: score               # the output property holding the overall score (optional)
    buckets: {thresholds: [1.5, 2.5, 3.5], names: [Poor, Low, Medium, Good]}   # optional
    template: |
      Rate this document ... {{ text }}
    schema:                    # JSON Schema of the answer (task prompts)
      type: object
      properties: {score: {type: integer, minimum: 0, maximum: 5}}
    example: {text: "A short document used by show-prompt."}

A folder prompt holds ``prompt.yaml`` with the same keys, and may keep the template in
``template.j2`` and the schema in ``schema.json`` or ``schema.yaml``. Every property of the schema is
required unless the schema lists ``required``.

Besides the inputs, templates can use ``truncated`` (true when an input was cut),
``truncated_fields``, ``chunk_index`` / ``chunk_count`` (with ``--chunking chunks``), ``schema_json``
and ``score_field``.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml

from bonepick.errors import InputNotFoundError, UsageError

KINDS = ("task", "system")
INPUT_FORMATS = ("text", "conversation")
PROMPT_FILE = "prompt.yaml"
PROMPT_DIR_ENV = "BONEPICK_PROMPT_DIR"
CONTEXT_VARIABLES = frozenset(
    {"truncated", "truncated_fields", "chunk_index", "chunk_count", "schema_json", "score_field"}
)
DEFAULT_BUCKET_NAMES = ("Poor", "Low", "Medium", "Good")
_KEYS = {
    "name",
    "kind",
    "version",
    "description",
    "system",
    "inputs",
    "score",
    "buckets",
    "template",
    "schema",
    "example",
}


@dataclass(frozen=True)
class InputField:
    """A template variable filled from each row by a jq expression."""

    name: str
    expression: str = ".text"
    description: str = ""
    #: ``text`` (a string) or ``conversation`` (a list of {role, content} messages)
    format: str = "text"


@dataclass(frozen=True)
class Buckets:
    """Score ranges for summaries: ``names[i]`` covers scores below ``thresholds[i]``, the last
    name everything at or above the last threshold."""

    thresholds: tuple[float, ...]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.thresholds) + 1:
            raise UsageError(
                f"{len(self.thresholds)} bucket thresholds need {len(self.thresholds) + 1} names, "
                f"got {len(self.names)}"
            )
        if list(self.thresholds) != sorted(self.thresholds):
            raise UsageError(f"bucket thresholds must increase: {list(self.thresholds)}")

    def name_of(self, score: float) -> str:
        for threshold, name in zip(self.thresholds, self.names, strict=False):
            if score < threshold:
                return name
        return self.names[-1]

    @classmethod
    def even(cls, low: float, high: float, names: Sequence[str] = DEFAULT_BUCKET_NAMES) -> Buckets:
        """Equal-width buckets over ``[low, high]``."""
        step = (high - low) / len(names)
        return cls(tuple(low + step * i for i in range(1, len(names))), tuple(names))


@dataclass
class Prompt:
    """A task or system prompt. Picklable; the Jinja template is compiled on first use."""

    name: str
    kind: str
    template: str
    description: str = ""
    version: str = "1"
    inputs: tuple[InputField, ...] = ()
    schema: dict[str, Any] | None = None
    score: str | None = None
    buckets: Buckets | None = None
    system: str | None = None
    example: dict[str, Any] = field(default_factory=dict)
    source: str = "built-in"

    # -- identity ------------------------------------------------------------------------------

    @cached_property
    def fingerprint(self) -> str:
        """A hash of everything that changes the request: editing a prompt invalidates its cache."""
        payload = {
            "kind": self.kind,
            "version": self.version,
            "template": self.template,
            "inputs": [f.name for f in self.inputs],
            "schema": self.schema,
        }
        return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.inputs]

    # -- scores --------------------------------------------------------------------------------

    def score_schema(self) -> dict[str, Any] | None:
        if self.score is None or self.schema is None:
            return None
        return self.schema.get("properties", {}).get(self.score)

    @property
    def score_is_numeric(self) -> bool:
        sub = self.score_schema() or {}
        kinds = sub.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        return any(k in ("integer", "number") for k in kinds)

    @property
    def score_range(self) -> tuple[float, float] | None:
        sub = self.score_schema() or {}
        if "minimum" in sub and "maximum" in sub:
            return float(sub["minimum"]), float(sub["maximum"])
        return None

    def default_buckets(self) -> Buckets | None:
        if self.buckets is not None:
            return self.buckets
        if self.score_range is not None:
            return Buckets.even(*self.score_range)
        return None

    def numeric_fields(self) -> list[str]:
        """Top-level numeric or boolean output properties (what summaries average)."""
        names = []
        for name, sub in (self.schema or {}).get("properties", {}).items():
            kinds = sub.get("type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if any(k in ("integer", "number", "boolean") for k in kinds):
                names.append(name)
        return names

    # -- rendering -----------------------------------------------------------------------------

    @cached_property
    def _compiled(self) -> Any:
        return _environment().from_string(self.template)

    def render(self, values: Mapping[str, Any] | None = None, **context: Any) -> str:
        variables = {
            "truncated": False,
            "truncated_fields": [],
            "chunk_index": 0,
            "chunk_count": 1,
            "schema_json": self.schema_json,
            "score_field": self.score,
            **(values or {}),
            **context,
        }
        try:
            return self._compiled.render(**variables).strip()
        except Exception as error:
            raise UsageError(f"prompt '{self.name}' ({self.source}) failed to render: {error}") from None

    @property
    def schema_json(self) -> str:
        if self.schema is None:
            return ""
        return orjson.dumps(self.schema, option=orjson.OPT_INDENT_2).decode()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_compiled", None)
        return state


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# --------------------------------------------------------------------------------------------- loading


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not valid YAML ({error})") from None
    except OSError as error:
        raise InputNotFoundError(f"cannot read prompt file {path}: {error}") from None


def load_prompt(path: str | Path, source: str | None = None) -> Prompt:
    """Load one prompt from a YAML file or a prompt folder."""
    path = Path(path)
    if path.is_dir():
        meta_path = path / PROMPT_FILE
        if not meta_path.is_file():
            raise UsageError(f"{path} is not a prompt folder (no {PROMPT_FILE})")
        data = _read_yaml(meta_path) or {}
        if not isinstance(data, dict):
            raise UsageError(f"{meta_path}: expected a mapping of prompt settings")
        data = dict(data)
        for name in ("template.j2", "template.jinja", "template.txt"):
            if (path / name).is_file():
                if "template" in data:
                    raise UsageError(f"{path}: the template is both in {PROMPT_FILE} and in {name}")
                data["template"] = (path / name).read_text(encoding="utf-8")
        for name in ("schema.json", "schema.yaml", "schema.yml"):
            if (path / name).is_file():
                if "schema" in data:
                    raise UsageError(f"{path}: the schema is both in {PROMPT_FILE} and in {name}")
                data["schema"] = _read_yaml(path / name)
        return prompt_from_dict(
            data, where=str(meta_path), default_name=path.name, source=source or str(path)
        )
    if not path.is_file():
        raise InputNotFoundError(f"no such prompt file or folder: {path}")
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of prompt settings")
    return prompt_from_dict(data, where=str(path), default_name=path.stem, source=source or str(path))


def prompt_from_dict(data: Mapping[str, Any], where: str, default_name: str, source: str) -> Prompt:
    """Build and check a prompt from its YAML mapping; errors name the file."""
    from bonepick.annotate.schema import check_schema

    unknown = set(data) - _KEYS
    if unknown:
        raise UsageError(
            f"{where}: unknown prompt keys {sorted(unknown)}", hint=f"allowed: {', '.join(sorted(_KEYS))}"
        )
    name = str(data.get("name") or default_name)
    kind = str(data.get("kind", "task"))
    if kind not in KINDS:
        raise UsageError(f"{where}: kind must be 'task' or 'system', got '{kind}'")
    template = data.get("template")
    if not isinstance(template, str) or not template.strip():
        raise UsageError(f"{where}: the prompt has no template")
    inputs = _inputs(data.get("inputs"), kind, where)
    schema = data.get("schema")
    if kind == "task":
        if schema is None:
            raise UsageError(f"{where}: a task prompt needs an output schema ('schema')")
        check_schema(schema, where)
    elif schema is not None:
        raise UsageError(f"{where}: system prompts have no output schema")
    score = data.get("score")
    if score is not None:
        score = str(score)
        if schema is None or score not in schema.get("properties", {}):
            raise UsageError(f"{where}: score field '{score}' is not a property of the output schema")
    buckets = None
    if data.get("buckets") is not None:
        raw = data["buckets"]
        if not isinstance(raw, dict) or "thresholds" not in raw:
            raise UsageError(f"{where}: buckets need 'thresholds' (and optionally 'names')")
        thresholds = tuple(float(t) for t in raw["thresholds"])
        names = tuple(str(n) for n in raw.get("names", DEFAULT_BUCKET_NAMES[: len(thresholds) + 1]))
        try:
            buckets = Buckets(thresholds, names)
        except UsageError as error:
            raise UsageError(f"{where}: {error.message}") from None
    example = data.get("example") or {}
    if not isinstance(example, dict):
        raise UsageError(f"{where}: 'example' must map input names to example values")
    prompt = Prompt(
        name=name,
        kind=kind,
        template=template,
        description=" ".join(str(data.get("description", "")).split()),
        version=str(data.get("version", "1")),
        inputs=inputs,
        schema=schema,
        score=score,
        buckets=buckets,
        system=str(data["system"]) if data.get("system") else None,
        example=example,
        source=source,
    )
    _check_template(prompt, where)
    return prompt


def _inputs(raw: Any, kind: str, where: str) -> tuple[InputField, ...]:
    if raw is None:
        return (InputField("text"),) if kind == "task" else ()
    if not isinstance(raw, list):
        raise UsageError(f"{where}: 'inputs' must be a list")
    fields = []
    for item in raw:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise UsageError(f"{where}: each input needs a 'name'")
        name = str(item["name"])
        if not name.isidentifier():
            raise UsageError(f"{where}: input name '{name}' must be a valid identifier")
        fmt = str(item.get("format", "text"))
        if fmt not in INPUT_FORMATS:
            raise UsageError(f"{where}: input '{name}' has format '{fmt}'; use text or conversation")
        fields.append(
            InputField(name, str(item.get("expression", f".{name}")), str(item.get("description", "")), fmt)
        )
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: duplicate input names {names}")
    clash = set(names) & CONTEXT_VARIABLES
    if clash:
        raise UsageError(f"{where}: input names {sorted(clash)} are reserved template variables")
    return tuple(fields)


def _check_template(prompt: Prompt, where: str) -> None:
    import jinja2
    from jinja2 import meta

    try:
        parsed = _environment().parse(prompt.template)
    except jinja2.TemplateSyntaxError as error:
        raise UsageError(f"{where}: template syntax error on line {error.lineno}: {error.message}") from None
    unknown = meta.find_undeclared_variables(parsed) - set(prompt.input_names) - CONTEXT_VARIABLES
    if unknown:
        raise UsageError(
            f"{where}: the template uses {sorted(unknown)}, which are neither inputs nor known variables",
            hint=f"declare them under 'inputs' or use one of: {', '.join(sorted(CONTEXT_VARIABLES))}",
        )


# --------------------------------------------------------------------------------------------- library


def builtin_root() -> Any:
    return resources.files("bonepick.annotate") / "prompts"


def _prompt_paths(folder: Any) -> Iterable[Any]:
    """Prompt files and prompt folders directly under ``folder`` (a Path or a resource)."""
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith((".", "_")):
            continue
        if (
            entry.is_dir()
            and (entry / PROMPT_FILE).is_file()
            or entry.is_file()
            and entry.name.endswith((".yaml", ".yml"))
        ):
            yield entry


class PromptLibrary:
    """The built-in prompts plus the user's prompt folders (later folders win on equal names)."""

    def __init__(self, prompt_dirs: Sequence[str | Path] = (), use_env: bool = True) -> None:
        dirs = [Path(d) for d in prompt_dirs]
        if use_env and os.environ.get(PROMPT_DIR_ENV):
            dirs = [Path(p) for p in os.environ[PROMPT_DIR_ENV].split(os.pathsep) if p] + dirs
        for folder in dirs:
            if not folder.is_dir():
                raise InputNotFoundError(f"no such prompt folder: {folder}", hint="check --prompt-dir")
        self.dirs = dirs
        self._prompts: dict[tuple[str, str], Prompt] | None = None

    def _load(self) -> dict[tuple[str, str], Prompt]:
        if self._prompts is None:
            prompts: dict[tuple[str, str], Prompt] = {}
            with resources.as_file(builtin_root()) as root:
                for path in _prompt_paths(Path(root)):
                    prompt = load_prompt(path, source="built-in")
                    prompts[(prompt.kind, prompt.name)] = prompt
            for folder in self.dirs:
                for path in _prompt_paths(folder):
                    prompt = load_prompt(path)
                    prompts[(prompt.kind, prompt.name)] = prompt
            self._prompts = prompts
        return self._prompts

    def all(self, kind: str | None = None) -> list[Prompt]:
        prompts = self._load().values()
        return sorted((p for p in prompts if kind is None or p.kind == kind), key=lambda p: (p.kind, p.name))

    def get(self, name_or_path: str | Path, kind: str = "task") -> Prompt:
        """A prompt by name, or loaded from a path to a YAML file or prompt folder."""
        text = str(name_or_path)
        path = Path(text).expanduser()
        looks_like_path = os.sep in text or text.endswith((".yaml", ".yml")) or path.exists()
        if looks_like_path and path.exists():
            prompt = load_prompt(path)
        else:
            prompt = self._load().get((kind, text))
            if prompt is None:
                if looks_like_path:
                    raise InputNotFoundError(f"no such prompt file or folder: {text}")
                names = [name for (k, name) in self._load() if k == kind]
                close = difflib.get_close_matches(text, names, n=3)
                hint = f"did you mean {', '.join(close)}? " if close else ""
                raise UsageError(
                    f"unknown {kind} prompt '{text}'",
                    hint=hint
                    + f"list them with `bonepick list-prompts {kind}`, or pass a path to a prompt file",
                )
        if prompt.kind != kind:
            raise UsageError(f"'{text}' is a {prompt.kind} prompt, but a {kind} prompt is needed here")
        return prompt
