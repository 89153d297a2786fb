"""Printing results: JSON for other tools, tables for people."""

from __future__ import annotations

import json

import click


def echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))
