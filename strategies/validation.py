"""Deploy-time validation of a strategy's files: the hard priors of the design (§1).

Every problem becomes a `ValidationIssue` naming the file, the JSON path or line, and what
would be valid. All problems are collected before anything is raised, so an agent can fix
them in one round trip. Nothing here touches the database.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).parent / "schema" / "strategy-config.schema.json"
CONFIG_FILE = "config.json"
SCRIPTS_LAYOUT = frozenset({"entry.py", "exit.py", CONFIG_FILE})
CLASS_LAYOUT = frozenset({"strategy.py", CONFIG_FILE})
MAX_FILE_BYTES = 256 * 1024
LAYOUT_HELP = "a strategy is either entry.py + exit.py + config.json, or strategy.py + config.json"


@dataclass(frozen=True)
class ValidationIssue:
    file: str
    message: str
    path: str = ""  # JSON path inside config.json, e.g. "capital.max_positions"
    line: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.file}: line {self.line}: {self.message}"
        if self.path:
            return f"{self.file}: {self.path} {self.message}"
        return f"{self.file}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "path": self.path or None, "line": self.line, "message": str(self)}


class StrategyInvalid(Exception):
    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))


@dataclass(frozen=True)
class ValidatedStrategy:
    layout: str  # "scripts" or "class"
    config: dict[str, Any]
    files: dict[str, str]

    @property
    def content_hash(self) -> str:
        return content_hash(self.files, self.config)


def content_hash(files: dict[str, str], config: dict[str, Any]) -> str:
    """sha256 over the files' own hashes and the canonical config: equal code and config, equal hash."""
    canonical = {
        "files": {name: hashlib.sha256(text.encode()).hexdigest() for name, text in sorted(files.items())},
        "config": config,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@cache
def config_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


# --- config.json --------------------------------------------------------------------------------


def _json_path(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _got(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:80]


def _schema_issue(error: ValidationError) -> list[ValidationIssue]:
    path = _json_path(error)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    instance: Any = error.instance
    prefix = f"{path}." if path else ""
    if error.validator == "required":
        properties = schema.get("properties", {})
        return [
            ValidationIssue(
                CONFIG_FILE, f"is required: {properties.get(key, {}).get('x-expect', 'a value')}", path=f"{prefix}{key}"
            )
            for key in error.validator_value  # type: ignore[union-attr]
            if isinstance(instance, dict) and key not in instance
        ]
    if error.validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        issues = []
        for key in instance:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            issues.append(
                ValidationIssue(
                    CONFIG_FILE, f"is not a known key: {hint}valid keys are {', '.join(known)}", path=f"{prefix}{key}"
                )
            )
        return issues
    expect = schema.get("x-expect", "valid")
    if not path:
        return [ValidationIssue(CONFIG_FILE, f"the file must hold {expect}, got {_got(instance)}")]
    return [ValidationIssue(CONFIG_FILE, f"must be {expect}, got {_got(instance)}", path=path)]


def _semantic_issues(config: dict[str, Any]) -> list[ValidationIssue]:
    """Rules a JSON Schema cannot say: relations between fields."""
    issues: list[ValidationIssue] = []
    capital = config["capital"]
    total = Decimal(str(capital["total_capital"]))
    for key in ("capital_per_trade", "max_position_size", "max_daily_loss"):
        if Decimal(str(capital[key])) > total:
            issues.append(
                ValidationIssue(
                    CONFIG_FILE,
                    f"must be ≤ capital.total_capital ({total}), got {_got(capital[key])}",
                    path=f"capital.{key}",
                )
            )
    method = capital["sizing_method"]
    if method == "percent_capital" and capital.get("percent") is None:
        issues.append(
            ValidationIssue(
                CONFIG_FILE,
                'is required when sizing_method is "percent_capital": a percentage in (0, 100]',
                path="capital.percent",
            )
        )
    if method == "kelly" and capital.get("kelly_fraction") is None:
        issues.append(
            ValidationIssue(
                CONFIG_FILE,
                'is required when sizing_method is "kelly": a number in (0, 1]',
                path="capital.kelly_fraction",
            )
        )
    allowed = config.get("risk_limits", {}).get("allowed_services")
    if allowed is not None and config["platform"] not in allowed:
        issues.append(
            ValidationIssue(
                CONFIG_FILE,
                f"must include the strategy's platform {_got(config['platform'])}, got {_got(allowed)}",
                path="risk_limits.allowed_services",
            )
        )
    return issues


def config_parse(text: str) -> tuple[dict[str, Any] | None, list[ValidationIssue]]:
    """Parse and check config.json; returns the config (None when invalid) and every issue found."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [ValidationIssue(CONFIG_FILE, f"column {exc.colno}: not valid JSON ({exc.msg})", line=exc.lineno)]
    validator = Draft202012Validator(config_schema())
    issues: list[ValidationIssue] = []
    seen: set[str] = set()
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        for issue in _schema_issue(error):
            if issue.path not in seen:  # one message per field, the first is the clearest
                seen.add(issue.path)
                issues.append(issue)
    if issues:
        return None, issues
    issues = _semantic_issues(config)
    return (None if issues else config), issues


# --- scripts --------------------------------------------------------------------------------------


def _parse_python(filename: str, source: str) -> tuple[ast.Module | None, list[ValidationIssue]]:
    try:
        return ast.parse(source, filename=filename), []
    except SyntaxError as exc:
        return None, [ValidationIssue(filename, f"invalid Python: {exc.msg}", line=exc.lineno or 1)]


def _positional_count(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return len(function.args.posonlyargs) + len(function.args.args)


def _check_function(
    filename: str, functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef], name: str, params: list[str]
) -> list[ValidationIssue]:
    signature = f"def {name}({', '.join(params)})"
    function = functions.get(name)
    if function is None:
        return [ValidationIssue(filename, f"{name} is not defined: define `{signature}` (sync or async)")]
    accepts = _positional_count(function)
    if accepts != len(params) and function.args.vararg is None:
        return [
            ValidationIssue(
                filename,
                f"{name} takes {accepts} argument(s), it must take {len(params)}: `{signature}`",
                line=function.lineno,
            )
        ]
    return []


def _top_level_functions(module: ast.Module | ast.ClassDef) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {node.name: node for node in module.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def _strategy_class_issues(module: ast.Module) -> list[ValidationIssue]:
    classes = {node.name: node for node in module.body if isinstance(node, ast.ClassDef)}
    strategy_classes: list[ast.ClassDef] = []
    for node in classes.values():
        lineage: set[str] = set()
        pending = [node]
        while pending:  # follow bases defined in the same file, so a helper base class counts
            current = pending.pop()
            for base in _base_names(current) - lineage:
                lineage.add(base)
                if base in classes:
                    pending.append(classes[base])
        if "BaseStrategy" in lineage:
            strategy_classes.append(node)
    if not strategy_classes:
        return [
            ValidationIssue(
                "strategy.py",
                "no BaseStrategy subclass found: define `class MyStrategy(BaseStrategy)` "
                "(from strategies.sdk import BaseStrategy) with should_enter and should_exit",
            )
        ]
    leaves = [c for c in strategy_classes if not any(c.name in _base_names(o) for o in strategy_classes)]
    if len(leaves) > 1:
        names = ", ".join(f"{c.name} (line {c.lineno})" for c in leaves)
        return [ValidationIssue("strategy.py", f"defines {len(leaves)} strategy classes ({names}); keep exactly one")]
    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for cls in reversed(strategy_classes):  # bases first, the leaf's own methods win
        methods.update(_top_level_functions(cls))
    return _check_function("strategy.py", methods, "should_enter", ["self", "ctx"]) + _check_function(
        "strategy.py", methods, "should_exit", ["self", "ctx", "position"]
    )


def _script_issues(files: dict[str, str]) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    expected = {
        "entry.py": ("should_enter", ["ctx"]),
        "exit.py": ("should_exit", ["ctx", "position"]),
    }
    for filename in sorted(name for name in files if name.endswith(".py")):
        module, syntax_issues = _parse_python(filename, files[filename])
        issues += syntax_issues
        if module is None:
            continue
        if filename == "strategy.py":
            issues += _strategy_class_issues(module)
        else:
            name, params = expected[filename]
            issues += _check_function(filename, _top_level_functions(module), name, params)
    return issues


# --- the whole strategy --------------------------------------------------------------------------------


def _layout_issues(files: dict[str, str]) -> tuple[str | None, list[ValidationIssue]]:
    names = set(files)
    if names == SCRIPTS_LAYOUT:
        return "scripts", []
    if names == CLASS_LAYOUT:
        return "class", []
    issues = [
        ValidationIssue(name, f"unexpected file: {LAYOUT_HELP}")
        for name in sorted(names - SCRIPTS_LAYOUT - CLASS_LAYOUT)
    ]
    if "strategy.py" in names and names & {"entry.py", "exit.py"}:
        issues.append(ValidationIssue("strategy.py", f"mixes both layouts: {LAYOUT_HELP}"))
    elif "strategy.py" not in names:
        issues += [ValidationIssue(name, f"is missing: {LAYOUT_HELP}") for name in sorted(SCRIPTS_LAYOUT - names)]
    elif CONFIG_FILE not in names:
        issues.append(ValidationIssue(CONFIG_FILE, f"is missing: {LAYOUT_HELP}"))
    return None, issues


def strategy_files_validate(files: dict[str, str]) -> ValidatedStrategy:
    """Check every hard prior; raise StrategyInvalid listing every issue, or return the validated strategy."""
    layout, issues = _layout_issues(files)
    for name, text in sorted(files.items()):
        if not isinstance(text, str):
            issues.append(ValidationIssue(name, "must be UTF-8 text"))
        elif not text.strip():
            issues.append(ValidationIssue(name, "is empty"))
        elif len(text.encode()) > MAX_FILE_BYTES:
            issues.append(ValidationIssue(name, f"is {len(text.encode())} bytes; the limit is {MAX_FILE_BYTES}"))
    if issues:
        raise StrategyInvalid(issues)
    assert layout is not None
    config, issues = config_parse(files[CONFIG_FILE])
    issues += _script_issues(files)
    if issues or config is None:
        raise StrategyInvalid(issues)
    return ValidatedStrategy(layout=layout, config=config, files=dict(files))
