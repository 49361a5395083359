"""Deploy-time validation of a strategy's files: the hard priors a strategy must meet (docs/strategies.md).

Every problem becomes a `ValidationIssue` naming the file, the JSON path or line, and what
would be valid. All problems are collected before anything is raised, so an agent can fix
them in one round trip. Nothing here touches the database.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from runtime.sdk import SIDES_BY_PLATFORM, VENUE_METHODS, BaseStrategy, EntrySignal, ExitSignal
from strategyhub.lib import refusal
from strategyhub.lib.json_depth import json_too_deep
from trading.venues.platforms import PREDICTION_MARKETS

SCHEMA_PATH = Path(__file__).parent / "schema" / "strategy-config.schema.json"
CONFIG_FILE = "config.json"
SCRIPTS_LAYOUT = frozenset({"entry.py", "exit.py", CONFIG_FILE})
CLASS_LAYOUT = frozenset({"strategy.py", CONFIG_FILE})
MAX_FILE_BYTES = 256 * 1024
MAX_CONFIG_DEPTH = 20  # objects and lists inside one another: far past any real config, far short of the stack
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


class StrategyInvalid(refusal.Refused):
    """Every problem of a strategy's files or of a request about them, at once."""

    type = "validation_error"
    status = 400

    def __init__(self, issues: list[ValidationIssue], *, files: dict[str, str] | None = None) -> None:
        self.issues = issues
        # The files judged, when they were whole enough to judge: a deploy still smoke-runs them (smoke_config).
        self.files = files
        super().__init__("; ".join(str(issue) for issue in issues))
        self.message = refusal.summary(self.issues_json())

    def issues_json(self) -> list[dict[str, Any]]:
        return [_issue_json(one) for one in self.issues]


def _issue_json(one: ValidationIssue) -> dict[str, Any]:
    data = one.as_dict()
    if data["file"] in ("request", "file_ids"):  # not a file: a field of the request
        return refusal.issue(str(one.message), path=one.path or data["file"])
    return data


@dataclass(frozen=True)
class ValidatedStrategy:
    layout: str  # "scripts" or "class"
    config: dict[str, Any]
    files: dict[str, str]

    @property
    def content_hash(self) -> str:
        return content_hash(self.files, self.config)


def content_hash(files: dict[str, str], config: dict[str, Any]) -> str:
    """sha256 over the code files' own hashes and the parsed config, serialised canonically: equal code and
    config, equal hash. config.json's own text is left out: its whitespace and key order change nothing."""
    canonical = {
        "files": {name: hashlib.sha256(text.encode()).hexdigest()
                  for name, text in sorted(files.items()) if name != CONFIG_FILE},
        "config": config,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@cache
def config_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


# --- config.json --------------------------------------------------------------------------------


def _json_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _got(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:80]


def _schema_issue(error: ValidationError) -> list[ValidationIssue]:
    path = _json_path(error.absolute_path)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    instance: Any = error.instance
    prefix = f"{path}." if path else ""
    if error.validator == "required":
        properties = schema.get("properties", {})
        return [
            ValidationIssue(CONFIG_FILE, f"is required: {_expected(properties.get(key, {}))}"
                                         f"{_holding(properties.get(key))}", path=f"{prefix}{key}")
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


def _holding(schema: dict[str, Any] | None) -> str:
    """What a required object must hold, so one answer names its keys too (`capital`)."""
    required = (schema or {}).get("required")
    return f" with {', '.join(required)}" if required else ""


def _expected(schema: dict[str, Any]) -> str:
    """A property's x-expect, also when it is a reference to one of the schema's $defs (a USD amount)."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        schema = config_schema()["$defs"][ref.removeprefix("#/$defs/")]
    return str(schema.get("x-expect", "a value"))


def _non_finite_issues(value: Any, parts: tuple[str | int, ...] = ()) -> list[ValidationIssue]:
    """NaN and ±Infinity: Python's json reads them (and 1e400 as Infinity); Decimal, the schema and Postgres do not."""
    if isinstance(value, float) and not math.isfinite(value):
        hint = " (a number beyond ±1.8e308 reads as Infinity)" if math.isinf(value) else ""
        message = f"must be a finite number{hint}, got {_got(value)}"
        return [ValidationIssue(CONFIG_FILE, message, path=_json_path(parts))]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [issue for key, item in items for issue in _non_finite_issues(item, (*parts, key))]


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
    if method in ("percent_capital", "percent_equity") and capital.get("percent") is None:
        issues.append(
            ValidationIssue(
                CONFIG_FILE,
                f'is required when sizing_method is "{method}": a percentage in (0, 100]',
                path="capital.percent",
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


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def config_parse(text: str) -> tuple[dict[str, Any] | None, list[ValidationIssue]]:
    """Parse and check config.json; returns the config (None when invalid) and every issue found."""
    too_deep = json_too_deep(text, MAX_CONFIG_DEPTH)
    if too_deep is not None:
        line, column = too_deep
        return None, [ValidationIssue(
            CONFIG_FILE, f"column {column}: objects and lists nested more than {MAX_CONFIG_DEPTH} deep", line=line)]
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [ValidationIssue(CONFIG_FILE, f"column {exc.colno}: not valid JSON ({exc.msg})", line=exc.lineno)]
    issues = _non_finite_issues(config)
    if issues:
        return None, issues
    validator = Draft202012Validator(config_schema())
    seen: set[str] = set()
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        for issue in _schema_issue(error):
            if issue.path not in seen:  # one message per field, the first is the clearest
                seen.add(issue.path)
                issues.append(issue)
    if issues:
        return None, issues
    if _has_nul(config):
        return None, [ValidationIssue(CONFIG_FILE, "contains a NUL character (\\u0000), which cannot be stored")]
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


def _strategy_classes(module: ast.Module) -> list[ast.ClassDef]:
    """The file's classes that are BaseStrategy subclasses, through bases defined in the same file too."""
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
    return strategy_classes


def _strategy_class_issues(module: ast.Module) -> list[ValidationIssue]:
    strategy_classes = _strategy_classes(module)
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
    return (_check_function("strategy.py", methods, "should_enter", ["self", "ctx"])
            + _check_function("strategy.py", methods, "should_exit", ["self", "ctx", "position"])
            + _unset_attribute_issues(strategy_classes))


BASE_ATTRIBUTES = frozenset(dir(BaseStrategy)) | {"state", "params", "config"}


def _unset_attribute_issues(strategy_classes: list[ast.ClassDef]) -> list[ValidationIssue]:
    """`self.x` read but set nowhere in the class (nor by BaseStrategy): an AttributeError when the line runs.
    Agents trained on long-running bots write `self.processed_trades`; each cycle runs the module anew."""
    names = {cls.name for cls in strategy_classes}
    known = set(BASE_ATTRIBUTES)
    reads: dict[str, int] = {}
    for cls in strategy_classes:
        if any(base not in names | {"BaseStrategy", "object"} for base in _base_names(cls)):
            return []  # a base we cannot read (an SDK name we do not model): no guess
        for statement in cls.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                known.add(statement.name)
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target] if isinstance(
                statement, ast.AnnAssign) else []
            known.update(target.id for target in targets if isinstance(target, ast.Name))
        for node in ast.walk(cls):
            if isinstance(node, ast.Name) and node.id in ("setattr", "vars"):
                return []  # attributes set by name: no guess
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"):
                continue
            if node.attr == "__dict__":
                return []
            if isinstance(node.ctx, ast.Store | ast.Del):
                known.add(node.attr)
            else:
                reads.setdefault(node.attr, node.lineno)
    return [
        ValidationIssue("strategy.py", f"self.{name} is read but never set, so this line raises AttributeError: "
                                       f"set it in __init__, or, to remember it between runs (each cycle runs the "
                                       f"module anew), keep it in ctx.state, e.g. `ctx.state.setdefault({name!r}, [])`",
                        line=line)
        for name, line in sorted(reads.items(), key=lambda item: item[1]) if name not in known
    ]


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


# --- what the sandbox can run (docs/sandbox.md): imports, venue methods, signals, reply shapes -------------

# The standard library, numpy, pandas and what they import; the SDK under its two names.
IMPORTABLE = frozenset(sys.stdlib_module_names) | {"numpy", "pandas", "dateutil", "pytz", "tzdata", "six"}
SDK_MODULES = frozenset({"strategies.sdk", "servers.strategies", "strategies", "servers"})
IMPORT_HELP = ("the sandbox has only the Python standard library, numpy, pandas and strategies.sdk, and no network: "
               "read markets through ctx.polymarket, ctx.kalshi or ctx.alpaca")
# What `get_trade_history` answers, one dict per trade (strategies/cycle/venue_reads.py `_polymarket_trades`).
POLYMARKET_TRADE_FIELDS = ("id", "proxyWallet", "conditionId", "asset", "side", "price", "size", "timestamp",
                           "title", "outcome")
TRADE_FIELD_HINTS = {"token_id": "asset", "market_id": "asset", "market_slug": "title", "market": "conditionId",
                     "transactionHash": "id", "trade_id": "id", "maker_address": "proxyWallet", "amount": "size"}
SIGNAL_FIELDS = {"EntrySignal": EntrySignal, "ExitSignal": ExitSignal}


def _import_issues(filename: str, nodes: list[ast.AST]) -> list[ValidationIssue]:
    issues = []
    for node in nodes:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names
                                     if node.module in ("strategies", "servers")]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in ("strategies", "servers"):
                if name not in SDK_MODULES and not name.startswith(("strategies.sdk.", "servers.strategies.")):
                    issues.append(ValidationIssue(filename, f"imports {name}: a strategy may import only "
                                                            "strategies.sdk (or servers.strategies)", line=node.lineno))
            elif top not in IMPORTABLE:
                issues.append(ValidationIssue(
                    filename, f"imports {top}, which the sandbox cannot provide: {IMPORT_HELP}", line=node.lineno))
    return issues


def _venue_of(node: ast.expr, platform: str) -> str | None:
    """`ctx.polymarket`, `await ctx.polymarket`, `ctx.venue` -> the venue it names."""
    if isinstance(node, ast.Await):
        node = node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.attr in VENUE_METHODS:
            return node.attr
        if node.attr == "venue" and node.value.id != "self":
            return platform
    return None


def _call_of(node: ast.expr) -> ast.Call | None:
    if isinstance(node, ast.Await):
        node = node.value
    return node if isinstance(node, ast.Call) else None


def _venue_issues(filename: str, nodes: list[ast.AST], platform: str) -> list[ValidationIssue]:
    """Venue methods the SDK does not have, signals that cannot be right, and reply shapes read wrongly."""
    aliases: dict[str, str] = {}
    trade_lists: set[str] = set()
    trades: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            venue = _venue_of(node.value, platform)
            if venue:
                aliases[target] = venue
            call = _call_of(node.value)
            if call is not None and isinstance(call.func, ast.Attribute) and call.func.attr == "get_trade_history":
                trade_lists.add(target)
    for node in nodes:  # loop variables over a trade list are trades
        if (isinstance(node, ast.For | ast.AsyncFor) and isinstance(node.target, ast.Name)
                and _trade_list_of(node.iter) in trade_lists):
            trades.add(node.target.id)
    issues: list[ValidationIssue] = []
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            venue = _venue_of(base, platform) or (aliases.get(base.id) if isinstance(base, ast.Name) else None)
            methods = VENUE_METHODS.get(venue or "", {})
            if venue and node.func.attr not in methods:
                close = difflib.get_close_matches(node.func.attr, list(methods), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                issues.append(ValidationIssue(
                    filename, f"ctx.{venue} has no method {node.func.attr!r}: {hint}it offers "
                              f"{', '.join(sorted(methods))}", line=node.lineno))
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else "")
            if name in SIGNAL_FIELDS:
                issues += _signal_issues(filename, name, node, platform)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            key = node.slice.value if isinstance(node.slice, ast.Constant) else None
            if node.value.id in trade_lists and isinstance(key, str):
                issues.append(ValidationIssue(
                    filename, f"get_trade_history returns a list of trades, not an object: there is no "
                              f"{node.value.id}[{key!r}]; iterate it (`for trade in {node.value.id}:`); each trade "
                              f"is a dict with {', '.join(POLYMARKET_TRADE_FIELDS)}", line=node.lineno))
            elif node.value.id in trades and isinstance(key, str) and key not in POLYMARKET_TRADE_FIELDS:
                hint = f" (use {TRADE_FIELD_HINTS[key]!r})" if key in TRADE_FIELD_HINTS else ""
                issues.append(ValidationIssue(
                    filename, f"a trade from get_trade_history has no key {key!r}{hint}: its keys are "
                              f"{', '.join(POLYMARKET_TRADE_FIELDS)}", line=node.lineno))
    return issues


def _trade_list_of(source: ast.expr) -> str | None:
    """The name a loop reads its trades from: `trades`, and also `trades['trades']` or `trades.get('data', [])`,
    as agents write it for an API that wraps its list (reported as a shape error of its own)."""
    if isinstance(source, ast.Subscript):
        source = source.value
    elif (isinstance(source, ast.Call) and isinstance(source.func, ast.Attribute)
          and source.func.attr == "get"):
        source = source.func.value
    return source.id if isinstance(source, ast.Name) else None


def _signal_issues(filename: str, name: str, call: ast.Call, platform: str) -> list[ValidationIssue]:
    known = [f.name for f in dataclass_fields(SIGNAL_FIELDS[name])]
    issues = []
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        if keyword.arg not in known:
            issues.append(ValidationIssue(filename, f"{name} has no field {keyword.arg!r}: its fields are "
                                                    f"{', '.join(known)}", line=call.lineno))
            continue
        value = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
        sides = SIDES_BY_PLATFORM.get(platform, ())
        if name == "EntrySignal" and keyword.arg == "side" and isinstance(value, str) and sides and value not in sides:
            issues.append(ValidationIssue(filename, f"EntrySignal side must be {' or '.join(map(repr, sides))} on "
                                                    f"{platform}, got {value!r}", line=call.lineno))
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if name == "EntrySignal" and keyword.arg == "confidence" and number is not None and not 0 <= number <= 1:
            issues.append(ValidationIssue(filename, f"EntrySignal confidence must be in [0, 1], got {number}",
                                          line=call.lineno))
        if (name == "EntrySignal" and keyword.arg == "limit_price" and number is not None
                and platform in PREDICTION_MARKETS and not 0 < number < 1):
            issues.append(ValidationIssue(filename, f"EntrySignal limit_price must be in (0, 1) on {platform} "
                                                    f"(a price per $1 contract), got {number}", line=call.lineno))
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
        elif "\x00" in text:
            issues.append(ValidationIssue(name, "contains a NUL character"))
        elif len(text.encode()) > MAX_FILE_BYTES:
            issues.append(ValidationIssue(name, f"is {len(text.encode())} bytes; the limit is {MAX_FILE_BYTES}"))
    if issues:
        raise StrategyInvalid(issues)
    assert layout is not None
    config, issues = config_parse(files[CONFIG_FILE])
    issues += _script_issues(files)
    platform = str(config["platform"]) if config else ""
    for filename in sorted(name for name in files if name.endswith(".py")):
        try:
            module = ast.parse(files[filename], filename=filename)
        except SyntaxError:
            continue  # reported above
        nodes = list(ast.walk(module))  # walked once, read by each check (a deploy and every backtest of a folder)
        issues += _import_issues(filename, nodes) + _venue_issues(filename, nodes, platform)
    if issues or config is None:
        raise StrategyInvalid(issues, files=dict(files))
    return ValidatedStrategy(layout=layout, config=config, files=dict(files))


# --- the smoke run of a refused deploy -------------------------------------------------------------------

SMOKE_ROUNDS = 4  # defaults can reveal a relation they break (capital_per_trade > total_capital): check again


def _schema_default(path: list[str]) -> tuple[bool, Any]:
    """(has one, value): the schema's `default` at a config path, or the one its parent object's default gives."""
    properties = config_schema()["properties"]
    if len(path) == 1:
        prop = properties.get(path[0], {})
        return ("default" in prop), prop.get("default")
    parent = properties.get(path[0], {})
    prop = parent.get("properties", {}).get(path[1], {})
    if "default" in prop:
        return True, prop["default"]
    parent_default = parent.get("default") or {}
    return (path[1] in parent_default), parent_default.get(path[1])


def _platform_in_code(files: dict[str, str]) -> str | None:
    """The venue the code reads (`ctx.kalshi`), for a config that names none."""
    code = "\n".join(text for name, text in sorted(files.items()) if name.endswith(".py"))
    return next((venue for venue in VENUE_METHODS if f"ctx.{venue}" in code), None)


def smoke_config(files: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]] | None:
    """The files with a config.json the sandbox can run, for a deploy refused for its config: every missing or
    invalid value replaced by the schema's default (the platform by the venue the code reads), unknown keys
    dropped. Returns (files, {path: the default used, None for a key left out}), or None when the code itself
    cannot load (layout, syntax)."""
    if _layout_issues(files)[1] or any(not isinstance(text, str) or not text.strip() or "\x00" in text
                                       for text in files.values()):
        return None
    for name in (name for name in files if name.endswith(".py")):
        if _parse_python(name, files[name])[1]:
            return None
    try:
        config = json.loads(files[CONFIG_FILE]) if json_too_deep(files[CONFIG_FILE], MAX_CONFIG_DEPTH) is None else {}
    except json.JSONDecodeError:
        config = {}
    config = config if isinstance(config, dict) else {}
    used: dict[str, Any] = {}
    for _ in range(SMOKE_ROUNDS):
        parsed, issues = config_parse(json.dumps(config, allow_nan=True))
        if parsed is not None:
            return {**files, CONFIG_FILE: json.dumps(parsed, indent=2)}, used
        for one in issues:
            path = [part for part in one.path.split("[")[0].split(".") if part][:2] or [""]
            target = config
            if len(path) == 2:
                if not isinstance(config.get(path[0]), dict) or ".".join(path) in used:
                    path = path[:1]  # a default that still fails: the whole object's default
                else:
                    target = config[path[0]]
            has_default, default = _schema_default(path)
            if path[0] == "platform":
                default, has_default = _platform_in_code(files) or default, True
            if len(path) == 1:  # the whole object replaced: what was put inside it before no longer counts
                used = {key: value for key, value in used.items() if not key.startswith(f"{path[0]}.")}
            if has_default:
                target[path[-1]] = default
                used[".".join(path)] = default
            else:  # an unknown key, or an optional one with no default: leave it out
                target.pop(path[-1], None)
                used[".".join(path)] = None
    # Still refused after SMOKE_ROUNDS (values that only fail together): the schema's defaults alone.
    fallback = {key: prop["default"] for key, prop in config_schema()["properties"].items() if "default" in prop}
    fallback["platform"] = _platform_in_code(files) or fallback["platform"]
    if isinstance(config.get("parameters"), dict):
        fallback["parameters"] = config["parameters"]
    parsed, _ = config_parse(json.dumps(fallback))
    if parsed is None:
        return None
    return {**files, CONFIG_FILE: json.dumps(parsed, indent=2)}, {
        key: value for key, value in fallback.items() if key != "parameters" or value == {}}
