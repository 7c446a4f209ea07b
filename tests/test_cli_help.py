"""Every command that takes --target says every name it takes, variant:ID included."""

from __future__ import annotations

import argparse

import pytest

from harness.cli import build_parser
from queue_impl.variants import VARIANTS


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def taking_a_target() -> dict[str, argparse.ArgumentParser]:
    return {name: p for name, p in commands().items()
            if any("--target" in a.option_strings for a in p._actions)}


def test_the_commands_that_take_a_target_are_the_four_that_run_one():
    assert set(taking_a_target()) == {"gate", "machine", "nightly", "reproduce"}


@pytest.mark.parametrize("name", ["gate", "machine", "nightly", "reproduce"])
def test_the_target_help_names_the_aliases_every_variant_and_module_factory(name):
    text = " ".join(taking_a_target()[name].format_help().split())
    for alias in ("reference", "phase1", "pipeline-fix", "variant:ID", "module:factory"):
        assert alias in text
    for variant in VARIANTS:
        assert f"variant:{variant}" in text
