"""``lltd serve``: the defense of ``lltd defend`` as an HTTP service (optionally in front of a
model server)."""

from __future__ import annotations

from typing import Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.root import app
from lltd.common.limits import (
    DEFAULT_INFLIGHT_BYTES,
    DEFAULT_INFLIGHT_PIXELS,
    DEFAULT_MAX_PIXELS,
)


@app.command(
    "serve",
    help="Serve POST /v1/defend (an image in, the defended image out, or the answer of "
    "--upstream), GET /healthz, /readyz and /metrics (Prometheus).",
)
def serve_command(
    quality: opt.Quality = None,
    quality_range: opt.QualityRange = None,
    direction: opt.Direction = "horizontal",
    no_flip: opt.NoFlip = False,
    no_webp: opt.NoWebp = False,
    order: opt.Order = "webp-flip",
    resize_pad: opt.ResizePad = 0,
    seed: opt.DefenseSeed = None,
    method: opt.Method = 4,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free one).")
    ] = 8080,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes.")] = 1,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=0, help="CPU threads per process (0: the cores / --workers)."
        ),
    ] = 0,
    queue: Annotated[
        int,
        typer.Option(
            "--queue",
            min=0,
            help="Requests that may wait for a thread before the answer is 503 (0: 4 per thread).",
        ),
    ] = 0,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            min=0,
            help="Open connections per process before requests get 503 "
            "(0: 4 per admitted request, at least 64).",
        ),
    ] = 0,
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", min=1, help="Largest request body (413 beyond).")
    ] = 32 * 1024 * 1024,
    max_pixels: Annotated[
        int,
        typer.Option(
            "--max-pixels",
            min=0,
            help="Refuse images with more pixels, 413 (0: --max-inflight-pixels, at most "
            f"{DEFAULT_MAX_PIXELS}).",
        ),
    ] = 0,
    max_inflight_pixels: Annotated[
        int,
        typer.Option(
            "--max-inflight-pixels",
            min=1,
            help="Decoded pixels the threads of one process may hold at once; a request that "
            "does not fit waits (--queue, --queue-timeout). The default keeps the shipped "
            "unit under MemoryMax=2G.",
        ),
    ] = DEFAULT_INFLIGHT_PIXELS,
    max_inflight_bytes: Annotated[
        int,
        typer.Option(
            "--max-inflight-bytes",
            min=1,
            help="Bytes of request bodies one process may hold at once; a body that does not "
            "fit waits (--queue-timeout). At least --max-bytes.",
        ),
    ] = DEFAULT_INFLIGHT_BYTES,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout",
            min=0.1,
            help="Seconds for a client to send its headers, and again its body (408 beyond).",
        ),
    ] = 30.0,
    queue_timeout: Annotated[
        float,
        typer.Option(
            "--queue-timeout",
            min=0.1,
            help="Seconds a request may wait for a thread and its pixels (503 beyond).",
        ),
    ] = 30.0,
    upstream: Annotated[
        str | None,
        typer.Option("--upstream", help="Forward the defended image to this model server URL."),
    ] = None,
    upstream_protocol: Annotated[
        str,
        typer.Option(
            "--upstream-protocol",
            metavar="[raw|kserve-v1|kserve-v2]",
            help="raw (the image bytes: TorchServe /predictions), kserve-v1 (JSON, base64) or "
            "kserve-v2 (Open Inference Protocol: KServe, Triton, MLServer).",
        ),
    ] = "raw",
    upstream_instance: Annotated[
        str | None,
        typer.Option(
            "--upstream-instance",
            metavar="[image.b64|data|b64]",
            help='kserve-v1: the instance\'s shape: image.b64 ({"image": {"b64": ...}}, '
            "KServe's sample; the default), data ({\"data\": ...}, TorchServe's KServe "
            "envelope) or b64 (a bare string).",
        ),
    ] = None,
    upstream_input: Annotated[
        str | None,
        typer.Option(
            "--upstream-input", metavar="NAME", help="kserve-v2: the input's name (default: image)."
        ),
    ] = None,
    upstream_datatype: Annotated[
        str | None,
        typer.Option(
            "--upstream-datatype",
            metavar="[BYTES|UINT8]",
            help="kserve-v2: BYTES (the encoded image, base64; the default) or UINT8 "
            "(the RGB pixels, shape [H, W, 3]).",
        ),
    ] = None,
    upstream_timeout: Annotated[
        float, typer.Option("--upstream-timeout", min=0.1, help="Seconds (504 beyond).")
    ] = 30.0,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
) -> None:
    from lltd.defense import CLI_NAMES, DefenseSettings
    from lltd.serve.settings import (
        UPSTREAM_PROTOCOLS,
        V1_INSTANCES,
        V2_DATATYPES,
        ServeSettings,
    )

    defense = DefenseSettings.from_options(
        names=CLI_NAMES,
        quality=quality,
        quality_range=quality_range,
        no_webp=no_webp,
        direction=direction,
        no_flip=no_flip,
        order=order,
        method=method,
        resize_pad=resize_pad,
        seed=seed,
    )
    opt.check_choice("--upstream-protocol", upstream_protocol, UPSTREAM_PROTOCOLS)
    protocol_options = {
        "--upstream-instance": (upstream_instance, "kserve-v1", V1_INSTANCES),
        "--upstream-input": (upstream_input, "kserve-v2", None),
        "--upstream-datatype": (upstream_datatype, "kserve-v2", V2_DATATYPES),
    }
    for name, (value, protocol, choices) in protocol_options.items():
        if value is None:
            continue
        if upstream_protocol != protocol:
            opt.fail(f"{name} needs --upstream-protocol {protocol}")
        if choices is not None:
            opt.check_choice(name, value, choices)
        elif not value:
            opt.fail(f"{name} must not be empty")
    if max_pixels > max_inflight_pixels:
        opt.fail(
            f"--max-pixels {max_pixels} exceeds --max-inflight-pixels {max_inflight_pixels}: "
            "such an image could never be admitted"
        )
    if max_bytes > max_inflight_bytes:
        opt.fail(
            f"--max-bytes {max_bytes} exceeds --max-inflight-bytes {max_inflight_bytes}: "
            "such a body could never be read"
        )
    if upstream is not None and not upstream.startswith(("http://", "https://")):
        opt.fail(f"--upstream must be an http:// or https:// URL, got {upstream!r}")
    settings = ServeSettings(
        defense=defense,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        queue=queue,
        max_connections=max_connections,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        max_inflight_pixels=max_inflight_pixels,
        max_inflight_bytes=max_inflight_bytes,
        read_timeout=read_timeout,
        queue_timeout=queue_timeout,
        upstream=upstream,
        upstream_protocol=upstream_protocol,
        upstream_timeout=upstream_timeout,
        upstream_instance=upstream_instance or "image.b64",
        upstream_input=upstream_input or "image",
        upstream_datatype=upstream_datatype or "BYTES",
    )
    # Imported here, in this process, so a missing 'serve' extra is one line, not a worker's death.
    import lltd.serve.app

    if upstream:
        import lltd.serve.upstream  # noqa: F401
    from lltd.serve.server import serve

    raise typer.Exit(serve(settings, access_log=access_log))
