"""Per-file jobs: each a frozen, picklable callable ``job(task) -> FileResult``."""
