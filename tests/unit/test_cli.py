"""The whirlwind command line: serve, genconfig, checkconfig, tokens, version."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import whirlwind
from whirlwind.auth.tokens import TokenSettings, TokenVerifier, make_token
from whirlwind.cli import main
from whirlwind.config.schema import Config
from whirlwind.log import whirlwind_logger

SECRET = "test-secret"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ambient CENTRIFUGO_* / WHIRLWIND_* variable leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("CENTRIFUGO_", "WHIRLWIND_")):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level, own_level = list(root.handlers), root.level, whirlwind_logger.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    whirlwind_logger.setLevel(own_level)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def write_config(tmp_path: Path, data: dict[str, object], name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def verifier(**settings: str) -> TokenVerifier:
    return TokenVerifier(TokenSettings(**settings))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- basics


def test_version() -> None:
    result = invoke("version")
    assert result.exit_code == 0
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    build = "compiled" if whirlwind.compiled() else "pure Python"
    assert result.stdout == (
        f"Whirlwind v{whirlwind.__version__} (Centrifugo v6 compatible, Python {python}, {build})\n"
    )


@pytest.mark.parametrize(
    "command",
    [
        "serve",
        "genconfig",
        "checkconfig",
        "gentoken",
        "gensubtoken",
        "checktoken",
        "checksubtoken",
        "version",
    ],
)
def test_every_command_has_help(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout


# --------------------------------------------------------------------------- config commands


@pytest.mark.parametrize("name", ["config.json", "config.yaml", "config.yml", "config.toml"])
def test_genconfig_round_trips_through_checkconfig(tmp_path: Path, name: str) -> None:
    path = str(tmp_path / name)
    generated = invoke("genconfig", "-c", path)
    assert generated.exit_code == 0, generated.stderr
    checked = invoke("checkconfig", "-c", path)
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout == checked.stderr == ""
    token = invoke("gentoken", "-c", path, "-u", "1", "-q").stdout.strip()
    check = invoke("checktoken", "-c", path, token)
    assert check.exit_code == 0, check.stderr


def test_genconfig_writes_fresh_secrets(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    invoke("genconfig", "-c", str(first))
    invoke("genconfig", "-c", str(second))
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a["client"]["token"]["hmac_secret_key"] != b["client"]["token"]["hmac_secret_key"]
    assert len(a["http_api"]["key"]) >= 32
    assert a["admin"]["enabled"] is False
    assert a["client"]["allowed_origins"] == []


def test_genconfig_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"http_api": {"key": "mine"}})
    result = invoke("genconfig", "-c", path)
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert json.loads(Path(path).read_text()) == {"http_api": {"key": "mine"}}


def test_genconfig_refuses_unknown_formats(tmp_path: Path) -> None:
    result = invoke("genconfig", "-c", str(tmp_path / "config.ini"))
    assert result.exit_code == 1
    assert not (tmp_path / "config.ini").exists()


def test_checkconfig_reports_every_problem(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "http_server": {"port": "abc"},
            "channel": {"namespaces": [{"name": "chat", "presence": "yes"}]},
            "log": {"level": "loud"},
        },
    )
    result = invoke("checkconfig", "-c", path)
    assert result.exit_code == 1
    assert 'http_server.port: expected an integer, got "abc"' in result.stderr
    assert "channel.namespaces[0].presence" in result.stderr
    assert "log.level" in result.stderr
    assert "Traceback" not in result.stderr


def test_checkconfig_fails_on_unknown_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"client": {"tokn": {"hmac_secret_key": "x"}}})
    result = invoke("checkconfig", "-c", path)
    assert result.exit_code == 1
    assert 'unknown key "client.tokn": did you mean "client.token"?' in result.stderr
    assert invoke("checkconfig", "--strict", "-c", path).exit_code == 1


def test_checkconfig_fails_on_missing_file(tmp_path: Path) -> None:
    result = invoke("checkconfig", "-c", str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert "not found" in result.stderr


def test_checkconfig_accepts_a_valid_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"channel": {"namespaces": [{"name": "chat"}]}})
    result = invoke("checkconfig", "-c", path)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_checkconfig_sees_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, {})
    result = invoke("checkconfig", "-c", path, env={"CENTRIFUGO_HTTP_SERVER_PORT": "x"})
    assert result.exit_code == 1
    assert "http_server.port (from CENTRIFUGO_HTTP_SERVER_PORT)" in result.stderr


# --------------------------------------------------------------------------- tokens


def test_gentoken_output_verifies_with_the_configured_secret(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"client": {"token": {"hmac_secret_key": SECRET}}})
    result = invoke("gentoken", "-c", path, "-u", "42")
    assert result.exit_code == 0
    header, token = result.stdout.splitlines()
    assert header == 'HMAC SHA-256 JWT for user "42" with expiration TTL 168h0m0s:'
    now = time.time()
    verified = verifier(hmac_secret_key=SECRET).verify_connection_token_sync(token, now=now)
    assert verified.user == "42"
    assert verified.expire_at is not None and abs(verified.expire_at - (now + 604800)) < 5


def test_gentoken_quiet_ttl_and_no_expiration(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"client": {"token": {"hmac_secret_key": SECRET}}})
    token = invoke("gentoken", "-c", path, "-u", "7", "-t", "60", "-q").stdout.strip()
    result = verifier(hmac_secret_key=SECRET).verify_connection_token_sync(token, now=time.time())
    assert result.expire_at is not None and result.expire_at - time.time() <= 60
    forever = invoke("gentoken", "-c", path, "-u", "7", "-t", "-1")
    assert "without expiration" in forever.stdout
    token = forever.stdout.splitlines()[1]
    assert (
        verifier(hmac_secret_key=SECRET).verify_connection_token_sync(token, now=4e9).expire_at
        is None
    )


def test_gentoken_honours_user_id_claim(tmp_path: Path) -> None:
    token_config = {"hmac_secret_key": SECRET, "user_id_claim": "user_id"}
    path = write_config(tmp_path, {"client": {"token": token_config}})
    token = invoke("gentoken", "-c", path, "-u", "99", "-q").stdout.strip()
    v = verifier(hmac_secret_key=SECRET, user_id_claim="user_id")
    assert v.verify_connection_token_sync(token, now=time.time()).user == "99"


def test_gentoken_needs_an_hmac_secret(tmp_path: Path) -> None:
    path = write_config(tmp_path, {})
    result = invoke("gentoken", "-c", path, "-u", "1")
    assert result.exit_code == 1
    assert "client.token.hmac_secret_key" in result.stderr


def test_gentoken_reads_the_secret_from_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, {})
    env = {"CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY": SECRET}
    token = invoke("gentoken", "-c", path, "-u", "5", "-q", env=env).stdout.strip()
    v = verifier(hmac_secret_key=SECRET)
    assert v.verify_connection_token_sync(token, now=time.time()).user == "5"


def test_gensubtoken_uses_the_subscription_token_keys_when_enabled(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "client": {
                "token": {"hmac_secret_key": SECRET},
                "subscription_token": {"enabled": True, "hmac_secret_key": "sub-secret"},
            }
        },
    )
    result = invoke("gensubtoken", "-c", path, "-u", "42", "-s", "chat:1")
    assert result.exit_code == 0
    header, token = result.stdout.splitlines()
    assert header.startswith('HMAC SHA-256 JWT for user "42" and channel "chat:1"')
    verified = verifier(hmac_secret_key="sub-secret").verify_subscription_token_sync(
        token, now=time.time()
    )
    assert (verified.user, verified.channel) == ("42", "chat:1")
    checked = invoke("checksubtoken", "-c", path, token)
    assert checked.exit_code == 0
    assert checked.stdout.startswith(
        'valid subscription token for user "42" and channel "chat:1" with payload: {'
    )


def test_gensubtoken_requires_a_channel(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"client": {"token": {"hmac_secret_key": SECRET}}})
    assert invoke("gensubtoken", "-c", path, "-u", "1").exit_code == 2


def test_checktoken(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"client": {"token": {"hmac_secret_key": SECRET}}})
    good = make_token(SECRET, {"sub": "42", "exp": int(time.time()) + 60})
    result = invoke("checktoken", "-c", path, good)
    assert result.exit_code == 0
    prefix = 'valid token for user "42" with payload: '
    assert result.stdout.startswith(prefix)
    assert json.loads(result.stdout[len(prefix) :])["sub"] == "42"

    expired = make_token(SECRET, {"sub": "42", "exp": int(time.time()) - 60})
    result = invoke("checktoken", "-c", path, expired)
    assert result.exit_code == 1
    assert "expired" in result.stderr

    forged = make_token("other-secret", {"sub": "42"})
    result = invoke("checktoken", "-c", path, forged)
    assert result.exit_code == 1
    assert "invalid token" in result.stderr


# --------------------------------------------------------------------------- serve


@pytest.fixture
def captured_run(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """Replace app.run so that serve returns with the configuration it would run."""
    import whirlwind.app

    runs: list[Config] = []
    monkeypatch.setattr(whirlwind.app, "run", runs.append)
    return runs


def test_serve_passes_file_env_and_flags_to_the_app(
    tmp_path: Path, captured_run: list[Config]
) -> None:
    path = write_config(
        tmp_path,
        {
            "http_server": {"port": 8001, "address": "127.0.0.1"},
            "client": {"insecure": True},
            "log": {"level": "error"},
            "health": {"enabled": False},
        },
    )
    env = {"CENTRIFUGO_HTTP_SERVER_PORT": "8002", "CENTRIFUGO_NODE_NAME": "from-env"}
    result = invoke("serve", "-c", path, "-p", "8003", "--health.enabled", env=env)
    assert result.exit_code == 0, result.stderr
    (config,) = captured_run
    assert config.http_server.port == 8003  # flag > env > file
    assert config.http_server.address == "127.0.0.1"
    assert config.node.name == "from-env"
    assert config.health.enabled is True
    assert config.client.insecure is True  # an absent boolean flag does not reset the file


def test_serve_without_the_default_config_file_only_warns(
    tmp_path: Path, captured_run: list[Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("serve", "--log.level", "warn", "-n", "solo")
    assert result.exit_code == 0, result.stderr
    assert 'config file \\"config.json\\" not found' in result.stdout
    assert captured_run[0].node.name == "solo"


def test_serve_with_a_missing_explicit_config_fails(
    tmp_path: Path, captured_run: list[Config]
) -> None:
    result = invoke("serve", "-c", str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert captured_run == []


def test_serve_warns_about_unknown_keys_and_refuses_bad_config(
    tmp_path: Path, captured_run: list[Config]
) -> None:
    path = write_config(tmp_path, {"client": {"tokn": {}}})
    result = invoke("serve", "-c", path)
    assert result.exit_code == 0
    assert "did you mean" in result.stdout  # logged as a JSON line (not a terminal)
    bad = write_config(tmp_path, {"http_server": {"port": "abc"}}, "bad.json")
    result = invoke("serve", "-c", bad)
    assert result.exit_code == 1
    assert "http_server.port" in result.stderr
    assert len(captured_run) == 1


# --------------------------------------------------------------------------- python -m


def test_python_m_whirlwind_gentoken(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"client": {"token": {"hmac_secret_key": SECRET}}})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CENTRIFUGO_", "WHIRLWIND_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "whirlwind", "gentoken", "-c", path, "-u", "2694", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    token = completed.stdout.strip()
    v = verifier(hmac_secret_key=SECRET)
    assert v.verify_connection_token_sync(token, now=time.time()).user == "2694"
