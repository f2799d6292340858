"""``lltd serve``: the defense as an HTTP service (a KServe-style "transformer").

The pieces, each with one job: :mod:`settings` (the validated options, passed to worker
processes as JSON), :mod:`kernel` (bytes in, defended bytes out: runs in worker threads),
:mod:`problems` (one-line JSON errors), :mod:`intake` (body limits, slow clients, admission),
:mod:`metrics` (Prometheus), :mod:`upstream` (forwarding to a model server), :mod:`app` (the
Starlette routes), :mod:`protocol` (a header timeout for uvicorn) and :mod:`server` (uvicorn,
workers, sd_notify). Nothing here imports torch.
"""
