"""Old import path of the strategy SDK, kept because agents trained on older docs write it."""

from runtime.sdk import BaseStrategy, EntrySignal, ExitSignal, Position

__all__ = ["BaseStrategy", "EntrySignal", "ExitSignal", "Position"]
