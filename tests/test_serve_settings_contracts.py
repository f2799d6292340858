"""The contracts of lltd/serve/settings.py (issue 27), in-process: the defaults a service built
without ``lltd serve`` gets, the derived limits, and the JSON hand-off to worker processes."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import typer

import lltd.cli.serve  # noqa: F401  (registers the command whose defaults are compared)
from lltd.cli.root import app
from lltd.common.limits import DEFAULT_INFLIGHT_BYTES, DEFAULT_INFLIGHT_PIXELS, DEFAULT_MAX_PIXELS
from lltd.defense.settings import DefenseSettings
from lltd.serve import payloads
from lltd.serve.settings import (
    UPSTREAM_PROTOCOLS,
    V1_INSTANCES,
    V2_DATATYPES,
    ServeSettings,
)


def _cli_options() -> dict[str, object]:
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params}


def test_defaults_are_lltd_serves_option_defaults() -> None:
    # create_app() without settings (no LLTD_SERVE_SETTINGS) must serve as `lltd serve` does.
    options = _cli_options()
    settings = dataclasses.asdict(ServeSettings())
    # The three protocol details show no default (None: "not given", refused without their
    # protocol); their defaults are pinned below.
    shown = {n: v for n, v in settings.items() if n in options and options[n].default is not None}
    shown["upstream"] = settings["upstream"]
    assert shown == {name: options[name].default for name in shown}
    assert sorted(set(settings) - set(shown)) == [
        "defense",
        "upstream_datatype",
        "upstream_input",
        "upstream_instance",
    ]


def test_defaults_exactly() -> None:
    settings = ServeSettings()
    assert settings.defense == DefenseSettings()
    assert dataclasses.asdict(settings) == {
        "defense": dataclasses.asdict(DefenseSettings()),
        "host": "127.0.0.1",
        "port": 8080,
        "workers": 1,
        "threads": 0,
        "queue": 0,
        "max_connections": 0,
        "max_bytes": 32 * 1024 * 1024,
        "max_pixels": 0,
        "max_inflight_pixels": DEFAULT_INFLIGHT_PIXELS,
        "max_inflight_bytes": DEFAULT_INFLIGHT_BYTES,
        "read_timeout": 30.0,
        "queue_timeout": 30.0,
        "upstream": None,
        "upstream_protocol": "raw",
        "upstream_timeout": 30.0,
        "upstream_instance": "image.b64",
        "upstream_input": "image",
        "upstream_datatype": "BYTES",
    }


def test_protocol_choices_are_the_ones_the_help_lists_default_first() -> None:
    options = _cli_options()
    assert UPSTREAM_PROTOCOLS == ("raw", "kserve-v1", "kserve-v2")
    assert V1_INSTANCES == ("image.b64", "data", "b64")
    assert V2_DATATYPES == ("BYTES", "UINT8")
    for name, choices in [
        ("upstream_protocol", UPSTREAM_PROTOCOLS),
        ("upstream_instance", V1_INSTANCES),
        ("upstream_datatype", V2_DATATYPES),
    ]:
        assert options[name].metavar == "[" + "|".join(choices) + "]"
        assert getattr(ServeSettings(), name) == choices[0]


def test_every_v1_instance_choice_is_a_shape_the_payload_builds() -> None:
    bodies = {i: json.loads(payloads.kserve_v1(b"\x89PNG", i).body) for i in V1_INSTANCES}
    assert bodies == {
        "image.b64": {"instances": [{"image": {"b64": "iVBORw=="}}]},
        "data": {"instances": [{"data": "iVBORw=="}]},
        "b64": {"instances": ["iVBORw=="]},
    }


def test_settings_are_frozen_and_hashable() -> None:
    settings = ServeSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    assert hash(settings) == hash(ServeSettings())


def _every_field_changed() -> ServeSettings:
    return ServeSettings(
        defense=DefenseSettings(
            quality=50, quality_range=(40, 60), flip="random", seed=7, method=2
        ),
        host="0.0.0.0",
        port=9,
        workers=3,
        threads=5,
        queue=11,
        max_connections=70,
        max_bytes=1000,
        max_pixels=2000,
        max_inflight_pixels=3000,
        max_inflight_bytes=4000,
        read_timeout=1.5,
        queue_timeout=2.5,
        upstream="http://127.0.0.1:9/predict",
        upstream_protocol="kserve-v2",
        upstream_timeout=3.5,
        upstream_instance="data",
        upstream_input="pixels",
        upstream_datatype="UINT8",
    )


def test_json_round_trip_keeps_every_field_and_the_defense() -> None:
    settings = _every_field_changed()
    assert dataclasses.asdict(settings) != dataclasses.asdict(ServeSettings())
    text = settings.to_json()
    assert DefenseSettings(**json.loads(text)["defense"]) == settings.defense
    again = ServeSettings.from_json(text)
    assert again == settings
    assert isinstance(again.defense, DefenseSettings)


def test_from_environment_reads_LLTD_SERVE_SETTINGS(monkeypatch: pytest.MonkeyPatch) -> None:
    # The variable's name is the hand-off from `lltd serve` to uvicorn's worker processes.
    settings = _every_field_changed()
    monkeypatch.setenv("LLTD_SERVE_SETTINGS", settings.to_json())
    assert ServeSettings.from_environment() == settings
    monkeypatch.delenv("LLTD_SERVE_SETTINGS")
    assert ServeSettings.from_environment() == ServeSettings()


@pytest.fixture
def eight_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process allowed 8 cores (of 64 in the machine): the count threads divide."""

    def affinity(pid: int) -> set[int]:
        assert pid == 0  # this process, not another
        return set(range(8))

    monkeypatch.setattr(os, "sched_getaffinity", affinity, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)


@pytest.mark.usefixtures("eight_cores")
def test_threads_default_to_this_processs_cores_divided_among_the_workers() -> None:
    assert [ServeSettings(workers=w).thread_count() for w in (1, 2, 3, 8, 9, 16)] == [
        8,
        4,
        2,
        1,
        1,
        1,
    ]
    assert ServeSettings(threads=3, workers=16).thread_count() == 3


def test_threads_without_affinity_use_the_cpu_count_or_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert ServeSettings(workers=2).thread_count() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # undeterminable
    assert ServeSettings().thread_count() == 1


@pytest.mark.usefixtures("eight_cores")
def test_queue_defaults_to_four_per_thread() -> None:
    assert ServeSettings(threads=3).queue_size() == 12
    assert ServeSettings(workers=2).queue_size() == 16
    assert ServeSettings(threads=3, queue=5).queue_size() == 5


def test_pixel_limit_is_the_option_or_the_smaller_of_budget_and_bomb_limit() -> None:
    assert ServeSettings(max_pixels=1234).pixel_limit() == 1234
    assert ServeSettings(max_inflight_pixels=5000).pixel_limit() == 5000
    big = ServeSettings(max_inflight_pixels=DEFAULT_MAX_PIXELS + 1)
    assert big.pixel_limit() == DEFAULT_MAX_PIXELS


def test_connection_limit_is_four_per_admitted_request_at_least_64() -> None:
    assert ServeSettings(threads=2, queue=8).connection_limit() == 64  # 4 * 10 = 40
    assert ServeSettings(threads=2, queue=14).connection_limit() == 64  # exactly 64
    assert ServeSettings(threads=4, queue=16).connection_limit() == 80
    assert ServeSettings(threads=4, queue=16, max_connections=7).connection_limit() == 7
