"""The nexus-workbook command, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nexus_kernel_helpers.cli", *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_doctor_reports_every_check_and_never_the_key() -> None:
    key = "test-key-that-doctor-must-not-print"
    outcome = run_cli("doctor", env={"ANTHROPIC_API_KEY": key, "NEXUS_PG_BACKEND": "embedded"})
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    names = [line[5:15].strip() for line in outcome.stdout.splitlines()]
    assert names == ["python", "packages", "docker", "embedded", "backend", "api key"]
    assert "ok   embedded   PostgreSQL 18." in outcome.stdout
    assert "ok   api key    ANTHROPIC_API_KEY is set" in outcome.stdout
    assert key not in outcome.stdout + outcome.stderr


def test_doctor_fails_when_the_default_backend_cannot_work(tmp_path: Path) -> None:
    outcome = run_cli(
        "doctor",
        env={"NEXUS_PG_BACKEND": "docker", "DOCKER_HOST": f"unix://{tmp_path}/none.sock"},
    )
    assert outcome.returncode == 1
    assert (
        "FAIL backend    docker (NEXUS_PG_BACKEND): Docker not reachable: "
        f"no Docker socket at {tmp_path}/none.sock" in outcome.stdout
    )


def test_doctor_masks_the_password_of_a_configured_url() -> None:
    outcome = run_cli(
        "doctor", env={"NEXUS_DATABASE_URL": "postgresql://app:H1ddenPw@127.0.0.1:5999/app"}
    )
    assert "url: postgresql://app:***@127.0.0.1:5999/app" in outcome.stdout
    assert "H1ddenPw" not in outcome.stdout + outcome.stderr


def test_bad_configuration_is_one_line_and_exit_code_2() -> None:
    outcome = run_cli("doctor", env={"NEXUS_PG_BACKEND": "podman"})
    assert outcome.returncode == 2
    assert outcome.stderr.strip() == (
        "nexus-workbook: NEXUS_PG_BACKEND='podman' is not a backend: "
        "use one of auto, embedded, docker, url"
    )


@pytest.mark.slow
def test_bench_reports_ratios_and_leaves_nothing_running(tmp_path: Path) -> None:
    out = tmp_path / "startup.json"
    outcome = run_cli("bench", "--runs", "1", "--json", str(out))
    assert outcome.returncode == 0, outcome.stderr
    import json

    report = json.loads(out.read_text())
    assert set(report["medians_ms"]) == {
        "baseline_initdb_pg_ctl",
        "embedded_cold_start",
        "embedded_reuse",
        "embedded_stop",
    }
    assert report["overhead_ratio"] > 0
    assert report["leftover_processes"] == 0
    assert "overhead vs bare server" in outcome.stdout
