"""`%%nexus` in a real Jupyter kernel: one display updated in place over the kernel protocol."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel

from tests.fake_anthropic import FakeAnthropic, load_script
from tests.support import REPO

from .conftest import API_KEY

TRANSCRIPTS = REPO / "data" / "transcripts"
WIDGET = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.slow


@pytest.fixture
def kernel(tmp_path: Path, data_dir: Path) -> Iterator[tuple[BlockingKernelClient, FakeAnthropic]]:
    turns = load_script(TRANSCRIPTS / "why-is-this-slow.turns.json")
    with FakeAnthropic(*turns) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "NEXUS_"))}
        config = tmp_path / "anthropic"
        config.mkdir()
        env.update(
            ANTHROPIC_BASE_URL=fake.base_url,
            ANTHROPIC_API_KEY=API_KEY,
            ANTHROPIC_CONFIG_DIR=str(config),
            NEXUS_DATA_DIR=str(data_dir),
            PYTHONPATH=str(REPO),
        )
        manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
        try:
            yield client, fake
            run(client, "db.stop()")
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def run(client: BlockingKernelClient, code: str) -> list[dict[str, Any]]:
    """Execute `code`; return its iopub messages up to idle."""
    msg_id = client.execute(code)
    messages = []
    while True:
        message = client.get_iopub_msg(timeout=240)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(message)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return messages


def test_nexus_cell_streams_into_one_display_and_offers_buttons(
    kernel: tuple[BlockingKernelClient, FakeAnthropic],
) -> None:
    client, fake = kernel
    setup = run(
        client,
        "%load_ext nexus_kernel_helpers\n"
        "import nexus_kernel_helpers as nx\n"
        "db = nx.start_database('embedded', reuse=False, dataset='shop', scale=0.002)",
    )
    assert not [m for m in setup if m["msg_type"] == "error"], setup
    question = (TRANSCRIPTS / "why-is-this-slow.question.txt").read_text(encoding="utf-8")
    messages = run(client, "%%nexus\n" + question)
    assert not [m["content"] for m in messages if m["msg_type"] == "error"]
    shown = [m for m in messages if m["msg_type"] in ("display_data", "update_display_data")]
    markdown = [m for m in shown if "text/markdown" in m["content"]["data"]]
    ids = {m["content"]["transient"]["display_id"] for m in markdown}
    assert len(ids) == 1
    assert markdown[0]["msg_type"] == "display_data"
    assert {m["msg_type"] for m in markdown[1:]} == {"update_display_data"}
    final = markdown[-1]["content"]["data"]["text/markdown"]
    assert final.startswith("Let me measure the query first.")
    assert "<code>try_index</code>" in final
    assert "✓ <code>try_index</code>" in final
    assert "Nexus · claude-sonnet-5-5 · live · 10,100 in / 600 out / 4,800 cached tokens" in final
    assert [WIDGET in m["content"]["data"] for m in shown if m not in markdown] == [True]
    # The magic's return value is the answer already shown: no second copy.
    assert not [m for m in messages if m["msg_type"] == "execute_result"]
    assert len(fake.message_requests) == 3
