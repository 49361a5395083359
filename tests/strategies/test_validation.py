"""Every hard prior and every validation error of config.json and the scripts (docs/strategies.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from strategies.validation import StrategyInvalid, strategy_files_validate
from tests.conftest import example_files, scripts_files


def messages(files: dict[str, str]) -> list[str]:
    with pytest.raises(StrategyInvalid) as caught:
        strategy_files_validate(files)
    return [str(issue) for issue in caught.value.issues]


def with_capital(**changes: Any) -> dict[str, str]:
    files = example_files("kalshi_favourite_longshot")
    config = json.loads(files["config.json"])
    config["capital"].update(changes)
    files["config.json"] = json.dumps(config)
    return files


def without(key: str, section: str | None = None) -> dict[str, str]:
    files = example_files("kalshi_favourite_longshot")
    config = json.loads(files["config.json"])
    del (config[section] if section else config)[key]
    files["config.json"] = json.dumps(config)
    return files


@pytest.mark.parametrize("name", ["polymarket_copy_trader", "kalshi_favourite_longshot", "alpaca_mean_reversion"])
def test_it_accepts_every_shipped_example(name: str) -> None:
    validated = strategy_files_validate(example_files(name))
    assert validated.config["name"]
    assert validated.layout == ("class" if name == "polymarket_copy_trader" else "scripts")


def test_it_names_the_field_the_rule_and_the_value_from_the_design() -> None:
    assert messages(with_capital(max_positions="five")) == [
        'config.json: capital.max_positions must be an integer ≥ 1, got "five"'
    ]


@pytest.mark.parametrize("prior", ["thesis", "platform", "polling_interval", "capital", "name"])
def test_it_rejects_a_missing_hard_prior(prior: str) -> None:
    [message] = messages(without(prior))
    assert message.startswith(f"config.json: {prior} is required: ")


def test_it_rejects_a_blank_thesis() -> None:
    assert messages(scripts_files(thesis="   ")) == [
        'config.json: thesis must be a non-empty plain-English sentence saying why the strategy should make money, got "   "'
    ]


def test_it_rejects_an_unknown_platform() -> None:
    assert messages(scripts_files(platform="binance")) == [
        'config.json: platform must be one of "polymarket", "kalshi", "alpaca", got "binance"'
    ]


@pytest.mark.parametrize("interval", [4, 86401, 60.5, "60", True, None])
def test_it_rejects_a_polling_interval_outside_whole_seconds_5_to_86400(interval: Any) -> None:
    [message] = messages(scripts_files(polling_interval=interval))
    assert (
        message
        == f"config.json: polling_interval must be a whole number of seconds from 5 to 86400, got {json.dumps(interval)}"
    )


@pytest.mark.parametrize("interval", [5, 86400])
def test_it_accepts_the_polling_interval_bounds(interval: int) -> None:
    assert strategy_files_validate(scripts_files(polling_interval=interval)).config["polling_interval"] == interval


def test_it_rejects_unknown_top_level_keys_and_suggests_the_closest() -> None:
    assert messages(scripts_files(polling_intreval=60)) == [
        "config.json: polling_intreval is not a known key: did you mean 'polling_interval'? valid keys are "
        "capital, description, name, parameters, platform, polling_interval, risk_limits, thesis"
    ]


def test_it_rejects_unknown_keys_inside_capital() -> None:
    [message] = messages(with_capital(max_postions=3))
    assert message.startswith("config.json: capital.max_postions is not a known key: did you mean 'max_positions'?")


def test_it_reports_every_problem_at_once() -> None:
    files = scripts_files(platform="nyse", polling_interval=1)
    files["entry.py"] = "def should_enter(:\n"
    assert len(messages(files)) == 3


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("total_capital", 0, "capital.total_capital must be a number of USD > 0 and ≤ 1000000000000, got 0"),
        ("capital_per_trade", -5, "capital.capital_per_trade must be a number of USD > 0 and ≤ 1000000000000, got -5"),
        ("max_position_size", "lots", 'capital.max_position_size must be a number of USD > 0 and ≤ 1000000000000, got "lots"'),
        ("max_daily_loss", None, "capital.max_daily_loss must be a number of USD > 0 and ≤ 1000000000000, got null"),
        (
            "sizing_method",
            "martingale",
            'capital.sizing_method must be one of "fixed", "percent_capital", "percent_equity", "kelly", got "martingale"',
        ),
        ("kelly_fraction", 1.5, "capital.kelly_fraction must be a number in (0, 1], or null, got 1.5"),
        ("percent", 0, "capital.percent must be a percentage in (0, 100], or null, got 0"),
        ("max_positions", 0, "capital.max_positions must be an integer ≥ 1, got 0"),
    ],
)
def test_it_checks_each_capital_field(field: str, value: Any, expected: str) -> None:
    assert messages(with_capital(**{field: value})) == [f"config.json: {expected}"]


def test_a_missing_usd_amount_says_what_it_must_be() -> None:
    assert messages(without("total_capital", "capital")) == [
        "config.json: capital.total_capital is required: a number of USD > 0 and ≤ 1000000000000"]


def test_it_refuses_limits_larger_than_the_capital() -> None:
    assert messages(
        with_capital(total_capital=100, capital_per_trade=50, max_position_size=200, max_daily_loss=50)
    ) == ["config.json: capital.max_position_size must be ≤ capital.total_capital (100), got 200"]


def test_percent_sizing_needs_a_percent() -> None:
    assert messages(with_capital(sizing_method="percent_capital", percent=None)) == [
        'config.json: capital.percent is required when sizing_method is "percent_capital": a percentage in (0, 100]'
    ]


def test_kelly_sizing_without_a_fraction_is_valid() -> None:
    files = with_capital(sizing_method="kelly", kelly_fraction=None)  # sized at half-Kelly (trading.capital)
    assert strategy_files_validate(files).config["capital"]["sizing_method"] == "kelly"


def test_allowed_services_must_include_the_platform() -> None:
    files = scripts_files(risk_limits={"max_order_usd": 50, "allowed_services": ["alpaca"]})
    assert messages(files) == [
        'config.json: risk_limits.allowed_services must include the strategy\'s platform "kalshi", got ["alpaca"]'
    ]


def test_allowed_services_items_name_their_index() -> None:
    files = scripts_files(risk_limits={"allowed_services": ["kalshi", "ftx"]})
    assert messages(files) == [
        'config.json: risk_limits.allowed_services[1] must be one of "polymarket", "kalshi", "alpaca", got "ftx"'
    ]


def test_it_reports_the_line_of_invalid_json() -> None:
    files = example_files("kalshi_favourite_longshot")
    files["config.json"] = '{\n  "name": "x",\n  "thesis" "y"\n}'
    [message] = messages(files)
    assert message.startswith("config.json: line 3: column 12: not valid JSON (Expecting ':' delimiter)")


def test_config_must_be_an_object() -> None:
    files = example_files("kalshi_favourite_longshot")
    files["config.json"] = "[1, 2]"
    assert messages(files) == ["config.json: the file must hold a JSON object, got [1, 2]"]


def test_it_reports_the_line_of_a_syntax_error_in_a_script() -> None:
    files = example_files("kalshi_favourite_longshot")
    files["exit.py"] = "def should_exit(ctx, position):\n    return None\n\nif True\n    pass\n"
    [message] = messages(files)
    assert message.startswith("exit.py: line 4: invalid Python: ")


def test_entry_py_must_define_should_enter() -> None:
    files = example_files("kalshi_favourite_longshot")
    files["entry.py"] = "def enter(ctx):\n    return []\n"
    assert messages(files) == ["entry.py: should_enter is not defined: define `def should_enter(ctx)` (sync or async)"]


def test_exit_py_should_exit_must_take_ctx_and_position() -> None:
    files = example_files("kalshi_favourite_longshot")
    files["exit.py"] = "\n\nasync def should_exit(ctx):\n    return None\n"
    assert messages(files) == [
        "exit.py: line 3: should_exit takes 1 argument(s), it must take 2: `def should_exit(ctx, position)`"
    ]


def test_async_entry_points_are_accepted() -> None:
    files = example_files("kalshi_favourite_longshot")
    files["entry.py"] = "async def should_enter(ctx):\n    return []\n"
    assert strategy_files_validate(files).layout == "scripts"


def test_the_class_layout_needs_a_base_strategy_subclass() -> None:
    files = example_files("polymarket_copy_trader")
    files["strategy.py"] = "class CopyTrader:\n    pass\n"
    [message] = messages(files)
    assert message.startswith("strategy.py: no BaseStrategy subclass found")


def test_the_class_layout_needs_both_methods() -> None:
    files = example_files("polymarket_copy_trader")
    files["strategy.py"] = (
        "from strategies.sdk import BaseStrategy\n\nclass S(BaseStrategy):\n    def should_enter(self, ctx):\n        return []\n"
    )
    assert messages(files) == [
        "strategy.py: should_exit is not defined: define `def should_exit(self, ctx, position)` (sync or async)"
    ]


def test_the_class_layout_accepts_methods_from_a_base_in_the_same_file() -> None:
    files = example_files("polymarket_copy_trader")
    files["strategy.py"] = (
        "import strategies.sdk as sdk\n\nclass Common(sdk.BaseStrategy):\n    def should_exit(self, ctx, position):\n"
        "        return None\n\nclass S(Common):\n    async def should_enter(self, ctx):\n        return []\n"
    )
    assert strategy_files_validate(files).layout == "class"


def test_the_class_layout_refuses_two_strategy_classes() -> None:
    files = example_files("polymarket_copy_trader")
    files["strategy.py"] = files["strategy.py"] + "\n\nclass Other(BaseStrategy):\n    pass\n"
    [message] = messages(files)
    assert message.startswith("strategy.py: defines 2 strategy classes (CopyTrader (line 6), Other (line ")


def test_a_missing_script_is_named() -> None:
    files = example_files("kalshi_favourite_longshot")
    del files["exit.py"]
    assert messages(files) == [
        "exit.py: is missing: a strategy is either entry.py + exit.py + config.json, or strategy.py + config.json"
    ]


def test_a_missing_config_is_named() -> None:
    files = example_files("polymarket_copy_trader")
    del files["config.json"]
    assert messages(files) == [
        "config.json: is missing: a strategy is either entry.py + exit.py + config.json, or strategy.py + config.json"
    ]


def test_mixing_the_layouts_is_refused() -> None:
    files = {
        **example_files("kalshi_favourite_longshot"),
        "strategy.py": example_files("polymarket_copy_trader")["strategy.py"],
    }
    assert messages(files) == [
        "strategy.py: mixes both layouts: a strategy is either entry.py + exit.py + config.json, or strategy.py + config.json"
    ]


def test_an_unexpected_file_is_named() -> None:
    files = {**example_files("kalshi_favourite_longshot"), "helpers.py": "x = 1\n"}
    assert messages(files) == [
        "helpers.py: unexpected file: a strategy is either entry.py + exit.py + config.json, or strategy.py + config.json"
    ]


def test_empty_and_oversized_files_are_refused() -> None:
    files = example_files("kalshi_favourite_longshot")
    files["entry.py"] = "\n\n"
    files["exit.py"] = "#" * (256 * 1024 + 1)
    assert messages(files) == ["entry.py: is empty", "exit.py: is 262145 bytes; the limit is 262144"]


def test_equal_code_and_config_give_equal_hashes() -> None:
    first = strategy_files_validate(example_files("kalshi_favourite_longshot"))
    second = strategy_files_validate(example_files("kalshi_favourite_longshot"))
    files = example_files("kalshi_favourite_longshot")
    reindented = strategy_files_validate({**files, "config.json": json.dumps(json.loads(files["config.json"]), indent=7)})
    changed = strategy_files_validate(scripts_files(polling_interval=600))
    assert first.content_hash == second.content_hash == reindented.content_hash != changed.content_hash
