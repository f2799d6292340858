"""``lltd watch``: defend images as they land in drop folders, exactly once, as a systemd service.

The pieces, each with one job: :mod:`config` (TOML and command line into one validated config),
:mod:`actions` (the batch job each folder runs), :mod:`folders` (open, lock, recover; output
names), :mod:`safedir` (folders reached without following links), :mod:`handler` (which
file-system events mean "this file is complete"), :mod:`discovery` (observers, scans, queue
overflows), :mod:`settle` (completion by unchanged size and mtime), :mod:`intake` (the bounded
queue, each file at most once), :mod:`pool` (worker processes, retries, draining),
:mod:`worker` (runs in the worker processes: job, durability, disposal of the input),
:mod:`journal` (output names, and what ``keep`` mode has done), :mod:`notify` (sd_notify),
:mod:`lock`, :mod:`status`, :mod:`log` and :mod:`daemon` (life cycle, dispatch, accounting).
"""
