import pytest

from nexus_kernel_helpers import ConfigurationError
from nexus_kernel_helpers.postgres._conninfo import mask_url, parse_url, redact


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:S3cr3t@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql+psycopg://u:S3cr3t@h/d", "postgresql+psycopg://u:***@h/d"),
        ("host=h user=u password=S3cr3t dbname=d", "host=h user=u password=*** dbname=d"),
        (
            "postgresql://h/d?password=S3cr3t&sslmode=require",
            "postgresql://h/d?password=***&sslmode=require",
        ),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
    ],
)
def test_mask_url_hides_passwords_in_every_form(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_redact_hides_plain_and_url_quoted_secrets() -> None:
    text = "failed for p@ss/w0rd and p%40ss%2Fw0rd"
    assert redact(text, ["p@ss/w0rd"]) == "failed for *** and ***"


def test_sqlalchemy_style_urls_are_accepted() -> None:
    params = parse_url("postgresql+psycopg://u:pw@db.internal:6543/app?sslmode=require")
    assert params == {
        "user": "u",
        "password": "pw",
        "host": "db.internal",
        "port": "6543",
        "dbname": "app",
        "sslmode": "require",
    }


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:TopSecret9@localhost/app",
        "postgresql://root:TopSecret9@localhost/app?nonsense=1",
        "postgresql://root:TopSecret9@[::1/app",
        "   ",
    ],
)
def test_malformed_urls_raise_a_clear_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_url(url)
    message = str(caught.value)
    assert "TopSecret9" not in message
    assert "postgres" in message.lower() or "empty" in message
