"""Per-run limits of the sandbox, as a plain dataclass that `settings.SANDBOX` can build."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class SandboxLimits:
    """What one cycle may use. `SandboxLimits.from_settings(settings.SANDBOX)` builds it.

    The first nine fields are the keys of `settings.SANDBOX`; the rest have defaults that suit
    every strategy we know of and can be overridden the same way.
    """

    wall_seconds: float = 30
    cpu_seconds: int = 10
    memory_mb: int = 256  # address space a run may add on top of the pre-imported runtime
    file_size_mb: int = 8
    open_files: int = 64
    output_kb: int = 256  # logs and prints together; past it the run is stopped
    state_kb: int = 64
    calls_per_cycle: int = 200
    allow_weak: bool = False  # development only: run without a missing isolation layer, loudly
    reply_kb: int = 1024  # one venue reply
    replies_total_kb: int = 16384  # all venue replies of one cycle
    frame_kb: int = 1024  # one message from the sandbox
    scratch_mb: int = 16  # the per-sandbox tmpfs that holds every run's scratch folder
    threads: int = 32

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "allow_weak":
                if not isinstance(value, bool):
                    raise ValueError(f"SANDBOX.allow_weak must be true or false, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"SANDBOX.{item.name} must be a positive number, got {value!r}")

    @classmethod
    def from_settings(cls, sandbox: Mapping[str, Any]) -> SandboxLimits:
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(sandbox) - known)
        if unknown:
            raise ValueError(f"SANDBOX has unknown keys {unknown}; known keys: {sorted(known)}")
        return cls(**dict(sandbox))

    def as_dict(self) -> dict[str, Any]:
        # Every field is a number or a bool: a flat copy is what `asdict` gave, without its deep copy (every run).
        return {name: getattr(self, name) for name in _FIELD_NAMES}


_FIELD_NAMES = tuple(item.name for item in fields(SandboxLimits))
