from pathlib import Path

import pytest

from nexus_kernel_helpers import ConfigurationError, load_settings
from nexus_kernel_helpers.config import DEFAULT_PG_IMAGE


def test_defaults_without_any_setting(tmp_path: Path) -> None:
    settings = load_settings({}, env_file=tmp_path / "missing.env")
    assert settings.pg_backend == "auto"
    assert settings.database_url is None
    assert settings.pg_image == DEFAULT_PG_IMAGE
    assert not settings.has_api_key


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# workshop settings\n"
        "export NEXUS_PG_BACKEND=docker\n"
        "NEXUS_PG_IMAGE='postgres:17'  \n"
        'ANTHROPIC_API_KEY="sk-test-not-a-key"\n'
        "NEXUS_DATABASE_URL=postgresql://u@h/db # staging copy\n"
    )
    settings = load_settings({"NEXUS_PG_BACKEND": "embedded"}, env_file=env_file)
    assert settings.pg_backend == "embedded"
    assert settings.pg_image == "postgres:17"
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.has_api_key


def test_secrets_stay_out_of_repr() -> None:
    settings = load_settings(
        {"ANTHROPIC_API_KEY": "sk-ant-SECRET", "NEXUS_DATABASE_URL": "postgresql://u:PW@h/d"}
    )
    assert "SECRET" not in repr(settings)
    assert "PW" not in repr(settings)


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(ConfigurationError, match=r"'podman' is not a backend: use one of auto"):
        load_settings({"NEXUS_PG_BACKEND": "podman"})


def test_broken_env_file_line_is_named(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NEXUS_PG_BACKEND=docker\nthis is not a setting\n")
    with pytest.raises(ConfigurationError, match=r"line 2: expected NAME=value"):
        load_settings({}, env_file=env_file)
