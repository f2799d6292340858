"""The options of ``lltd serve``, validated once and passed to worker processes as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from lltd.common.limits import DEFAULT_INFLIGHT_BYTES, DEFAULT_INFLIGHT_PIXELS, DEFAULT_MAX_PIXELS
from lltd.defense.settings import DefenseSettings

#: The environment variable that carries the settings into uvicorn's worker processes.
ENVIRONMENT_KEY = "LLTD_SERVE_SETTINGS"
UPSTREAM_PROTOCOLS = ("raw", "kserve-v1", "kserve-v2")
#: KServe v1 leaves an instance's shape to the model: KServe's custom-model sample reads
#: ``{"image": {"b64": ...}}``, TorchServe's KServe envelope ``{"data": ...}``, others a string.
V1_INSTANCES = ("image.b64", "data", "b64")
#: Open Inference Protocol input types: the encoded image (base64 in JSON) or its RGB pixels.
V2_DATATYPES = ("BYTES", "UINT8")


@dataclass(frozen=True)
class ServeSettings:
    defense: DefenseSettings = field(default_factory=DefenseSettings)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    threads: int = 0  # CPU threads per worker process; 0: the cores divided among the workers
    queue: int = 0  # requests waiting for a thread; 0: 4 per thread
    max_connections: int = 0  # open connections per process; 0: 4 per admitted request, >= 64
    max_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 0  # 0: the smaller of the in-flight budget and Pillow's bomb limit
    max_inflight_pixels: int = DEFAULT_INFLIGHT_PIXELS  # decoded pixels in the threads at once
    max_inflight_bytes: int = DEFAULT_INFLIGHT_BYTES  # request bodies in memory at once
    read_timeout: float = 30.0  # seconds to receive a request's headers, and again its body
    queue_timeout: float = 30.0  # seconds a read request may wait for a thread and its pixels
    upstream: str | None = None
    upstream_protocol: str = "raw"
    upstream_timeout: float = 30.0
    upstream_instance: str = "image.b64"  # kserve-v1: the instance's shape (V1_INSTANCES)
    upstream_input: str = "image"  # kserve-v2: the input tensor's name
    upstream_datatype: str = "BYTES"  # kserve-v2: V2_DATATYPES

    def thread_count(self) -> int:
        if self.threads:
            return self.threads
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, (cores or 1) // max(1, self.workers))

    def queue_size(self) -> int:
        return self.queue or 4 * self.thread_count()

    def pixel_limit(self) -> int:
        """The largest image taken: never more than the budget, which it could never fit."""
        return self.max_pixels or min(DEFAULT_MAX_PIXELS, self.max_inflight_pixels)

    def connection_limit(self) -> int:
        return self.max_connections or max(64, 4 * (self.thread_count() + self.queue_size()))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        values = json.loads(text)
        return cls(**{**values, "defense": DefenseSettings(**values["defense"])})

    @classmethod
    def from_environment(cls) -> ServeSettings:
        text = os.environ.get(ENVIRONMENT_KEY)
        return cls() if text is None else cls.from_json(text)
