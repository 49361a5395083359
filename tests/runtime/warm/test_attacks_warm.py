"""Every attack of test_attacks.py and the hostile corpus, each cycle served by a warm session."""

from __future__ import annotations

import pytest

from tests.runtime.test_attacks import *  # noqa: F403 - the same tests, collected here again
from tests.runtime.test_hostile import test_it_contains_the_hostile_strategy  # noqa: F401
from tests.runtime.warm.conftest import WarmSandbox


@pytest.fixture
def sandbox(warm_sandbox: WarmSandbox) -> WarmSandbox:
    return warm_sandbox
