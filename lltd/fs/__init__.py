"""The file layer: everything lltd opens, writes, renames or removes inside a tree, by descriptor.

A decision taken on a *path* and acted on through the path again can act on something else:
the name may have been re-pointed in between (a link, a new version saved by rename, a folder
swapped). This package takes every decision on what a descriptor says, and acts on the same
descriptor (issue 24). Light to import: the lean ``lltd cwebp``/``compress`` paths use it.

Modules (import each where it is needed; this ``__init__`` imports nothing):

* :mod:`lltd.fs.identity` -- :class:`Identity` ``(st_dev, st_ino)`` and :class:`Version`
  (identity + size, mtime_ns, ctime_ns): what every later decision compares.
* :mod:`lltd.fs.resolve` -- :func:`open_beneath(dir_fd, relative, flags)`: ``openat2(
  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`` where the kernel has it, a per-component
  ``O_NOFOLLOW`` walk otherwise; ``renameat2`` (``RENAME_NOREPLACE``, ``RENAME_EXCHANGE``).
* :mod:`lltd.fs.tree` -- :class:`Folder` (a directory held open: ``child``, ``stat``,
  ``open_input``, ``new_temporary``, ``publish(temp, name, replaces)``, ``remove(name,
  expected_version)``, ``discard``) and :class:`Input` (a regular file opened once: ``fd``,
  ``version``, ``read_all``, ``chunks``, the ``folder`` it was opened in for a later removal).
  A tree is simply the :class:`Folder` of its root, opened once with :meth:`Folder.open`.
* :mod:`lltd.fs.entries` -- single steps on the names of a folder held open by descriptor, for
  the watch daemon's state: ``open_file``, ``make_dir``, ``touch``, ``move``, ``move_verified``
  (renamed, then checked, put back if it was another node), ``link_new`` (no replace),
  ``remove_own``, ``remove_empty_dir(s)``; ``remove_file``/``remove_named`` for files of ours
  named by path (their folder opened, each removed with :meth:`Folder.remove`).
* :mod:`lltd.fs.relation` -- :func:`relation(a, b)` -> SAME / INSIDE / CONTAINS / APART from
  directory identities (a link or bind mount of a folder is that folder); :func:`ancestors`.
* :mod:`lltd.fs.locks` -- :func:`tree_locks(writes, reads)`: flocks on the trees and all their
  ancestors, so runs on overlapping trees exclude each other when either writes.
* :mod:`lltd.fs.atomic` -- :func:`atomic_output` (a temporary made ``O_EXCL`` in the folder's
  descriptor, published with :meth:`Folder.publish`), ``copy_atomic``, ``write_bytes_atomic``,
  ``make_durable``, ``remove_stale_temporaries``.
* :mod:`lltd.fs.walk` -- :func:`walk`, ``os.walk`` without recursion or links (an uploader
  chooses the depth); :func:`allow_recursive_walks` for watchdog's own walks;
  :func:`allow_deep_descriptors` for :meth:`Folder.clear`, one descriptor held per level.
* :mod:`lltd.fs.destination` -- the os/stat-only rules for the lean ``lltd cwebp`` path.
* :mod:`lltd.fs.seam` -- :func:`reached(step, folder_fd, name)` before every step: the tests'
  fault-injection seam (``LLTD_FS_SEAM``).
* :mod:`lltd.fs.paths` -- lltd's cache folder.

Errors: :class:`lltd.fs.tree.Occupied` (a destination that appeared or changed: kept, the file
fails), :class:`lltd.fs.tree.NotRegular`, :class:`lltd.fs.resolve.Escape` (a link or ``..`` in a
name below a tree), and plain ``OSError``.
"""
