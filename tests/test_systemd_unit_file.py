"""The shipped unit and example config: systemd accepts the unit, and the config is valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lltd.watch import config as watch_config

SYSTEMD = Path(__file__).resolve().parents[1] / "systemd"
UNIT = SYSTEMD / "lltd-watch@.service"
EXAMPLE = SYSTEMD / "example.toml"


def unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_systemd_analyze_verify_accepts_the_unit_as_shipped(tmp_path: Path) -> None:
    # An instance of the unchanged template file (its ExecStart, /usr/bin/env, exists).
    shutil.copy(UNIT, tmp_path / UNIT.name)
    (tmp_path / "lltd-watch@example.service").symlink_to(UNIT.name)
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / "lltd-watch@example.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr.strip() == "", verify.stderr  # unknown keys are only warnings


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_systemd_analyze_verify_catches_mistakes(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key is reported."""
    broken = UNIT.read_text().replace("NotifyAccess=main", "NotifyAcess=main")
    (tmp_path / "lltd-watch@.service").write_text(broken)
    (tmp_path / "lltd-watch@x.service").symlink_to("lltd-watch@.service")
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / "lltd-watch@x.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Unknown key 'NotifyAcess'" in verify.stderr


def test_unit_is_a_hardened_notify_service_reading_the_instance_config() -> None:
    settings = unit_settings(UNIT.read_text())
    first = {key: values[0] for key, values in settings.items()}
    assert first["Type"] == "notify" and first["NotifyAccess"] == "main"
    assert first["ExecStart"] == "/usr/bin/env lltd watch --config /etc/lltd/%i.toml"
    assert first["KillMode"] == "mixed"  # SIGTERM for the daemon only: workers finish files
    assert first["Restart"] == "on-failure" and first["RestartPreventExitStatus"] == "2"
    assert first["DynamicUser"] == "yes" and first["User"] == "lltd"
    assert first["ProtectSystem"] == "strict" and "/srv/lltd" in first["ReadWritePaths"]
    for switch in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert first[switch] == "yes", switch
    assert first["RestrictAddressFamilies"] == "AF_UNIX"
    assert first["SystemCallFilter"] == "@system-service"
    assert "MemoryMax" in first and "TasksMax" in first and "WatchdogSec" in first
    assert first["RuntimeDirectory"] == "lltd/%i"
    # The daemon must finish in-flight files before systemd loses patience.
    config = watch_config.build(config_file=EXAMPLE)
    assert config.stop_timeout < float(first["TimeoutStopSec"])


def test_example_config_is_valid_and_uses_the_documented_folders() -> None:
    config = watch_config.build(config_file=EXAMPLE)
    assert config.folders, "the example watches at least one folder"
    for folder in config.folders:
        assert folder.input.parts[:3] == ("/", "srv", "lltd") and folder.input.name == "in"
        assert folder.output == folder.input.parent / "out"
        assert folder.action == "defend" and folder.on_success == "move"
    # The status file lives in the unit's RuntimeDirectory (/run/lltd/<instance>/).
    assert config.status_file == Path("/run/lltd/example/status.json")
