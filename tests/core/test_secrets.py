"""Secrets (core.checks): with DEBUG off a built-in or short key stops the web, ASGI and worker processes
and fails `check --deploy`; `make run` makes a key of its own for each clone."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from core.checks import DEVELOPMENT_SECRET_KEY, weak_secret_problems

ROOT = Path(__file__).resolve().parents[2]
STRONG = "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"  # 54 characters, 50 distinct
OTHER_STRONG = "other-" + "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba"

# Each case: the environment beside DEBUG off, and what the refusal must name.
WEAK = {
    "built-in key": ({}, "core.E001", "SECRET_KEY is the built-in development key"),
    "short key": (
        {"SECRET_KEY": "s3cr3t-but-short"},
        "core.E001",
        "SECRET_KEY has 16 characters, fewer than 50",
    ),
    "short JWT key": (
        {"SECRET_KEY": STRONG, "JWT_SIGNING_KEY": "only-31-bytes-long-jwt-key-here"},
        "core.E002",
        "JWT_SIGNING_KEY has 31 bytes, fewer than 32",
    ),
    "short encryption key": (
        {"SECRET_KEY": STRONG, "FIELD_ENCRYPTION_KEYS": f"{OTHER_STRONG},tiny-passphrase"},
        "core.E003",
        "FIELD_ENCRYPTION_KEYS key 2 has 15 characters, fewer than 50",
    ),
    "built-in encryption key": (
        {"SECRET_KEY": STRONG, "FIELD_ENCRYPTION_KEYS": DEVELOPMENT_SECRET_KEY},
        "core.E003",
        "FIELD_ENCRYPTION_KEYS key 1 is the built-in development key",
    ),
}
STRONG_CASES = {
    "strong key, the others derived": {"SECRET_KEY": STRONG},
    "three strong keys": {
        "SECRET_KEY": STRONG,
        "JWT_SIGNING_KEY": OTHER_STRONG[:32],
        "FIELD_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{OTHER_STRONG}",
    },
}


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command of this interpreter's with exactly the given environment (SQLite, no Redis)."""
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(  # noqa: S603 (this interpreter on fixed arguments)
        command, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def run_in(cwd: Path, command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command in a directory; fail with its output if it fails."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603 (fixed commands)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def settings_of(secret_key=STRONG, jwt_key=None, encryption_keys=None) -> SimpleNamespace:
    """Settings as config/settings.py derives them: the JWT and encryption keys default to SECRET_KEY."""
    return SimpleNamespace(
        SECRET_KEY=secret_key,
        SIMPLE_JWT={"SIGNING_KEY": secret_key if jwt_key is None else jwt_key},
        FIELD_ENCRYPTION_KEYS=[secret_key] if encryption_keys is None else encryption_keys,
    )


@pytest.mark.parametrize(("env", "check_id", "message"), WEAK.values(), ids=WEAK.keys())
def test_a_weak_secret_fails_the_deploy_check(env, check_id, message):
    """`manage.py check --deploy` exits non-zero with the setting's own error id and what is wrong."""
    result = run([sys.executable, "manage.py", "check", "--deploy"], {**env, "DEBUG": "false"})

    assert result.returncode != 0
    assert f"({check_id}) {message}" in result.stderr


@pytest.mark.parametrize(("env", "check_id", "message"), WEAK.values(), ids=WEAK.keys())
def test_a_weak_secret_stops_the_wsgi_application(env, check_id, message):
    """Loading config.wsgi with DEBUG off raises ImproperlyConfigured naming the setting and the fix."""
    result = run([sys.executable, "-c", "import config.wsgi"], {**env, "DEBUG": "false"})

    assert result.returncode != 0
    assert "ImproperlyConfigured: Refusing to start with DEBUG off" in result.stderr
    assert message in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr  # how to fix it


@pytest.mark.parametrize("entry", ["config.wsgi", "config.asgi"])
def test_the_built_in_key_stops_gunicorn_and_uvicorn(entry):
    """The real servers exit at startup, before they serve anything."""
    server = (
        ["-m", "gunicorn", f"{entry}:application", "--bind", "127.0.0.1:0", "--workers", "1"]
        if entry == "config.wsgi"
        else ["-m", "uvicorn", f"{entry}:application", "--host", "127.0.0.1", "--port", "0"]
    )
    result = run([sys.executable, *server], {"DEBUG": "false"})

    assert result.returncode != 0
    assert "SECRET_KEY is the built-in development key" in result.stdout + result.stderr


def test_the_built_in_key_stops_the_celery_worker():
    """`celery -A config worker` refuses in its worker_init hook, before it takes a task."""
    worker = ["-m", "celery", "-A", "config", "worker", "--pool=solo", "--without-mingle", "--without-gossip"]
    result = run([sys.executable, *worker], {"DEBUG": "false"})

    assert result.returncode != 0
    assert "SECRET_KEY is the built-in development key" in result.stdout + result.stderr


@pytest.mark.parametrize("env", STRONG_CASES.values(), ids=STRONG_CASES.keys())
def test_strong_secrets_pass(env):
    """Strong keys, set apart or derived from a strong SECRET_KEY, load config.wsgi and pass the check."""
    loaded = run([sys.executable, "-c", "import config.wsgi"], {**env, "DEBUG": "false"})
    checked = run([sys.executable, "manage.py", "check", "--deploy"], {**env, "DEBUG": "false"})

    assert loaded.returncode == 0, loaded.stderr
    assert "core.E00" not in checked.stderr


def test_debug_on_is_exempt():
    """A development server with DEBUG on starts on the built-in key; the deploy check leaves it to W018."""
    loaded = run([sys.executable, "-c", "import config.wsgi"], {"DEBUG": "true"})
    checked = run([sys.executable, "manage.py", "check", "--deploy"], {"DEBUG": "true"})

    assert loaded.returncode == 0, loaded.stderr
    assert checked.returncode == 0 and "core.E00" not in checked.stderr


RULES = {
    "built-in": (settings_of(DEVELOPMENT_SECRET_KEY), "SECRET_KEY is the built-in development key; it also"),
    "startproject's": (settings_of("django-insecure-" + STRONG), "SECRET_KEY is a development key made by"),
    "repetitive": (settings_of("ab" * 40), "SECRET_KEY has fewer than 5 distinct characters"),
    "built-in JWT": (settings_of(jwt_key=DEVELOPMENT_SECRET_KEY), "JWT_SIGNING_KEY is the built-in"),
    "JWT key in bytes": (settings_of(jwt_key="é" * 15 + "abcd"), None),  # 19 characters, 34 bytes
    "no encryption key": (settings_of(encryption_keys=[]), "FIELD_ENCRYPTION_KEYS is empty"),
    "repetitive Fernet": (
        settings_of(encryption_keys=["A" * 43 + "="]),
        "FIELD_ENCRYPTION_KEYS key 1 has fewer",
    ),
    "Fernet key": (settings_of(encryption_keys=[Fernet.generate_key().decode()]), None),
    "built-in old key": (
        settings_of(encryption_keys=[STRONG, DEVELOPMENT_SECRET_KEY]),
        "FIELD_ENCRYPTION_KEYS key 2 is the built-in development key",
    ),
}


@pytest.mark.parametrize(("configured", "problem"), RULES.values(), ids=RULES.keys())
def test_what_each_rule_refuses(configured, problem):
    """Django's rules for SECRET_KEY, 32 bytes for HS256, and a Fernet key or a long passphrase each."""
    problems = [why for _, why in weak_secret_problems(configured)]

    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_keys_derived_from_a_weak_secret_key_are_named_once():
    """A weak SECRET_KEY is one problem that says what else it signs and encrypts."""
    problems = weak_secret_problems(settings_of("short"))

    assert [setting for setting, _ in problems] == ["SECRET_KEY"]
    assert "signs bearer tokens (JWT_SIGNING_KEY is unset)" in problems[0][1]
    assert "encrypts stored secrets (FIELD_ENCRYPTION_KEYS is unset)" in problems[0][1]


def test_the_local_key_script_makes_one_strong_private_key(tmp_path):
    """scripts/local_secret_key.py writes a strong key once (owner-only) and prints the same one after."""
    script = [sys.executable, str(ROOT / "scripts" / "local_secret_key.py")]
    first = run_in(tmp_path, [*script, ".local/secret_key"]).stdout.strip()
    second = run_in(tmp_path, script).stdout.strip()

    stored = tmp_path / ".local" / "secret_key"
    assert second == first == stored.read_text().strip()
    assert stored.stat().st_mode & 0o777 == 0o600
    assert weak_secret_problems(settings_of(first)) == []
    assert list((tmp_path / ".local").iterdir()) == [stored]  # no draft left behind


def test_the_local_key_file_is_ignored_by_git():
    """The clone's key never reaches a commit."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert run_in(ROOT, [git, "check-ignore", ".local/secret_key"]).stdout.strip() == ".local/secret_key"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_serves_every_step_with_the_clones_key(tmp_path):
    """`make run` hands one local key to migrate, seed_demo and runserver; an exported SECRET_KEY wins.

    A stand-in python in the copied Makefile's BIN records the key each step gets.
    """
    shutil.copy(ROOT / "Makefile", tmp_path)
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "local_secret_key.py", tmp_path / "scripts")
    (tmp_path / "requirements.txt").touch()
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".runtime-installed").touch()  # newer than requirements.txt: nothing to install
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text('#!/bin/sh\necho "$SECRET_KEY $2" >> steps.log\n')
    (tmp_path / "bin" / "python").chmod(0o755)
    make = [shutil.which("make"), "--no-print-directory", "run", "BIN=bin", f"PYTHON={sys.executable}"]
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}

    run_in(tmp_path, make, env)
    made = (tmp_path / ".local" / "secret_key").read_text().strip()
    steps = (tmp_path / "steps.log").read_text().split()
    (tmp_path / "steps.log").unlink()
    run_in(tmp_path, make, {**env, "SECRET_KEY": STRONG})
    exported = (tmp_path / "steps.log").read_text().split()

    assert steps == [made, "migrate", made, "collectstatic", made, "seed_demo", made, "runserver"]
    assert weak_secret_problems(settings_of(made)) == []
    assert exported[::2] == [STRONG] * 4
