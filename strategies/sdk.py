"""The import path strategy code uses: `from strategies.sdk import BaseStrategy, EntrySignal, ExitSignal, Position`.

The SDK lives in runtime/sdk.py with the sandboxed runtime; this name stays because the seed's design and every
agent trained on it write it (docs/strategies.md). The sandbox binds this file beside runtime/.
"""

from runtime.sdk import *  # noqa: F403 - the SDK's own __all__, under its historical name
from runtime.sdk import __all__  # noqa: F401 - `from strategies.sdk import *` gives what it always gave
