"""A server of the exercises' own, holding `shop` at the scale the exercises are tuned for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import nexus_kernel_helpers as nx
from tests.support import private_shop

LAB_SCALE = 0.05


@pytest.fixture(scope="session")
def shop_db(data_dir: Path) -> Iterator[nx.Database]:
    """Embedded PostgreSQL with `shop` at the lab's scale; tests reset it when they change it.

    Not the shared `embedded_db`: loading a dataset switches a database to its clone, which
    tests of a bare server must not see.
    """
    with private_shop(data_dir, scale=LAB_SCALE) as db:
        yield db
