"""Load a strategy's files, in either layout, into one `BaseStrategy` interface.

- scripts layout: ``entry.py`` with ``should_enter(ctx)`` + ``exit.py`` with ``should_exit(ctx, position)``;
- class layout: ``strategy.py`` with exactly one ``BaseStrategy`` subclass.

Both are compiled under their own file names, so tracebacks point at the user's lines. Loaded
definitions are cached by the sha256 of the files: the same version is compiled once per
process, and a new version (new hash) is simply a cache miss, so it runs on the next cycle
without a restart. In the sandbox every cycle is a fresh process anyway; the cache pays off
where one process loads many cycles (validation, tests, backtests).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import linecache
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime.sdk import BaseStrategy, Context, Position

CONFIG_FILE = "config.json"
CACHE_SIZE = 64


class StrategyLoadError(Exception):
    """The files do not make a loadable strategy; the message names the file and what is wrong."""


def strategy_hash(files: Mapping[str, str]) -> str:
    """Content hash of a strategy version: the same files always give the same hash."""
    digest = hashlib.sha256()
    for name in sorted(files):
        for part in (name, files[name]):
            encoded = part.encode()
            digest.update(len(encoded).to_bytes(8, "big") + encoded)  # length-prefixed: no ambiguous joins
    return digest.hexdigest()


class ScriptStrategy(BaseStrategy):
    """The scripts layout seen through the BaseStrategy interface."""

    entry_function: Callable[[Context], Any]
    exit_function: Callable[[Context, Position], Any]

    def should_enter(self, ctx: Context) -> Any:
        return type(self).entry_function(ctx)

    def should_exit(self, ctx: Context, position: Position) -> Any:
        return type(self).exit_function(ctx, position)


@dataclass(frozen=True)
class StrategyDefinition:
    """One loaded version: its hash, layout, config and the class to instantiate per cycle."""

    version_hash: str
    layout: str  # "scripts" or "class"
    config: dict[str, Any]
    strategy_class: type[BaseStrategy]
    source_files: frozenset[str]

    def instantiate(
        self, *, params: Mapping[str, Any] | None = None, state: dict[str, Any] | None = None
    ) -> BaseStrategy:
        """A fresh strategy object bound to this cycle's config, params and state."""
        strategy = self.strategy_class.__new__(self.strategy_class)
        strategy.config = dict(self.config)
        strategy.params = dict(params if params is not None else self.config.get("parameters") or {})
        strategy.state = state if state is not None else {}
        init = self.strategy_class.__init__
        init(strategy, strategy.config) if _takes_config(init) else init(strategy)
        return strategy


@functools.lru_cache(maxsize=256)
def _takes_config(init: Callable[..., Any]) -> bool:
    """Whether a strategy's __init__ takes the config (read once per class: a backtest instantiates per step)."""
    return len(inspect.signature(init).parameters) > 1


_cache: OrderedDict[str, StrategyDefinition] = OrderedDict()
_compiled: dict[tuple[str, str], types.CodeType] = {}
_script_classes: dict[str, type[ScriptStrategy]] = {}
_cache_lock = threading.Lock()


def load_strategy(files: Mapping[str, str]) -> StrategyDefinition:
    """The definition for these files, from the cache when this exact version was loaded before."""
    version_hash = strategy_hash(files)
    with _cache_lock:
        cached = _cache.get(version_hash)
        if cached is not None:
            _cache.move_to_end(version_hash)
            return cached
    definition = _load(files, version_hash)
    with _cache_lock:
        _cache[version_hash] = definition
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return definition


def strategy_forget(files: Mapping[str, str]) -> None:
    """Drop what loading these files left in this process (definition, code, modules, source lines)."""
    version_hash = strategy_hash(files)
    with _cache_lock:
        _cache.pop(version_hash, None)
    _script_classes.pop(version_hash, None)
    for filename in files:
        _compiled.pop((version_hash, filename), None)
        linecache.cache.pop(filename, None)
        sys.modules.pop(f"strategy_{version_hash[:12]}_{filename.removesuffix('.py')}", None)


def load_strategy_fresh(files: Mapping[str, str], version_hash: str | None = None) -> StrategyDefinition:
    """A new definition with fresh module globals, from code compiled once: a backtest's step in one
    long-lived process sees module-level variables reset, as a live cycle in a new process does."""
    return _load(files, version_hash or strategy_hash(files), reuse_class=True)


def _load(files: Mapping[str, str], version_hash: str, *, reuse_class: bool = False) -> StrategyDefinition:
    config = _config(files)
    has_class = "strategy.py" in files
    has_scripts = "entry.py" in files or "exit.py" in files
    if has_class and has_scripts:
        raise StrategyLoadError("both layouts present: use strategy.py alone, or entry.py + exit.py")
    if has_class:
        module = _execute_module(files, "strategy.py", version_hash)
        strategy_class = _the_strategy_class(module)
        layout = "class"
    elif "entry.py" in files and "exit.py" in files:
        entry = _function(_execute_module(files, "entry.py", version_hash), "entry.py", "should_enter", 1)
        exit_ = _function(_execute_module(files, "exit.py", version_hash), "exit.py", "should_exit", 2)
        script_class = _script_classes.get(version_hash) if reuse_class else None
        if script_class is not None:  # building a class costs more than a step's cycle: rebind its functions
            script_class.entry_function = staticmethod(entry)
            script_class.exit_function = staticmethod(exit_)
        else:
            script_class = type(
                "ScriptStrategy",
                (ScriptStrategy,),
                {"entry_function": staticmethod(entry), "exit_function": staticmethod(exit_)},
            )
            if reuse_class:
                _script_classes.clear()
                _script_classes[version_hash] = script_class
        strategy_class = script_class
        layout = "scripts"
    else:
        raise StrategyLoadError(
            "a strategy is either entry.py + exit.py + config.json, or strategy.py + config.json; "
            f"got {', '.join(sorted(files)) or 'no files'}"
        )
    return StrategyDefinition(
        version_hash, layout, config, strategy_class, frozenset(n for n in files if n.endswith(".py"))
    )


def _config(files: Mapping[str, str]) -> dict[str, Any]:
    text = files.get(CONFIG_FILE)
    if text is None:
        return {}
    try:
        config = json.loads(text)
    except ValueError as error:
        raise StrategyLoadError(f"{CONFIG_FILE}: not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise StrategyLoadError(f"{CONFIG_FILE}: must be a JSON object, got {type(config).__name__}")
    return config


def strategy_compile(files: Mapping[str, str], version_hash: str) -> None:
    """Compile the files' code without running any of it (a warm session's process, which never runs user
    code, does this once; each cycle's child then only executes it). A file that does not compile is left
    for the cycle to report, as a cold run does."""
    for filename in ("strategy.py", "entry.py", "exit.py"):
        if filename in files and (version_hash, filename) not in _compiled:
            with contextlib.suppress(SyntaxError, ValueError):
                _compiled[(version_hash, filename)] = compile(files[filename], filename, "exec", dont_inherit=True)


def _execute_module(files: Mapping[str, str], filename: str, version_hash: str) -> types.ModuleType:
    source = files[filename]
    code = _compiled.get((version_hash, filename))
    if code is None:
        try:
            code = compile(source, filename, "exec", dont_inherit=True)
        except SyntaxError as error:
            raise StrategyLoadError(f"{filename}: line {error.lineno}: {error.msg}") from None
        except ValueError as error:  # e.g. a NUL byte in the source
            raise StrategyLoadError(f"{filename}: {error}") from None
        if len(_compiled) >= CACHE_SIZE * 3:
            _compiled.clear()
        _compiled[(version_hash, filename)] = code
    # Tracebacks and inspect read source lines from linecache; the file exists nowhere on disk.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module_name = f"strategy_{version_hash[:12]}_{filename.removesuffix('.py')}"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module  # dataclasses, enum and typing look classes' modules up here
    exec(code, module.__dict__)  # noqa: S102 - the point of the loader; it runs inside the sandbox
    return module


def _the_strategy_class(module: types.ModuleType) -> type[BaseStrategy]:
    candidates = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseStrategy)
        and value is not BaseStrategy
        and value.__module__ == module.__name__
    ]
    leaves = [c for c in candidates if not any(other is not c and issubclass(other, c) for other in candidates)]
    if not leaves:
        raise StrategyLoadError("strategy.py: must define one subclass of BaseStrategy, found none")
    if len(leaves) > 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise StrategyLoadError(f"strategy.py: must define one subclass of BaseStrategy, found {len(leaves)}: {names}")
    strategy_class = leaves[0]
    if strategy_class.should_enter is BaseStrategy.should_enter:
        raise StrategyLoadError(f"strategy.py: {strategy_class.__name__} must define should_enter(self, ctx)")
    return strategy_class


def _function(module: types.ModuleType, filename: str, name: str, arity: int) -> Callable[..., Any]:
    function = getattr(module, name, None)
    if not callable(function):
        args = "ctx" if arity == 1 else "ctx, position"
        raise StrategyLoadError(f"{filename}: must define {name}({args})")
    return function  # type: ignore[no-any-return]
