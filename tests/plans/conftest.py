"""Fixtures of the plan tests: the golden EXPLAIN plans, parsed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nexus_kernel_helpers.plans._model import Plan, parse_plan

from .capture_fixtures import SHAPES, read_fixture

_SQL = {shape.name: shape.sql for shape in SHAPES}


def load_plan(name: str) -> Plan:
    """Parse the fixture "<version>/<shape>" with its server version and SQL."""
    text, server = read_fixture(name)
    shape = name.partition("/")[2]
    return parse_plan(
        text, sql=_SQL.get(shape, ""), server_version_num=int(server["server_version_num"])
    )


@pytest.fixture
def golden_plan() -> Callable[[str], Plan]:
    """A loader of golden plans by name, e.g. golden_plan("pg18/sort_disk")."""
    return load_plan
