"""Plant each bug of tests/README.md's table "mutation -> the test that catches it" by hand and
run the test named for it; each must fail. Works in a scratch copy of the working tree.

    .venv/bin/python bench/mutation/planted.py        # every row
    .venv/bin/python bench/mutation/planted.py 0 3    # some rows, by number
"""

# ruff: noqa: E501  (the planted code is quoted verbatim, indentation included)
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from run import REPO, scratch_copy

# (what, file, [(old, new), ...], the tests that must fail)
ROWS = [
    (
        "compress keeps WebPs up to 2x larger",
        "lltd/jobs/compress.py",
        [("after >= before", "after >= 2 * before")],
        "tests/test_compress_boundaries.py::test_webp_as_large_as_its_original_is_not_kept_one_byte_smaller_is",
    ),
    (
        "compress keeps a WebP as large as the original (>= -> >, both checks)",
        "lltd/jobs/compress.py",
        [("after >= before", "after > before")],
        "tests/test_compress_boundaries.py::test_webp_as_large_as_its_original_is_not_kept_one_byte_smaller_is",
    ),
    (
        "equal-size WebP published, then removed (first check only)",
        "lltd/jobs/compress.py",
        [
            (
                "if after >= before:\n                    target",
                "if after > before:\n                    target",
            )
        ],
        "tests/test_compress_observed.py::test_a_webp_as_large_as_its_original_is_never_published_not_even_for_an_instant",
    ),
    (
        "the not-smaller rule skipped under --r",
        "lltd/jobs/compress.py",
        [("if after >= before:", "if after >= before and not self.replace:")],
        "tests/test_compress_boundaries.py::test_replace_never_keeps_a_webp_as_large_as_its_original",
    ),
    (
        "a leftover the run did not record reused as already converted",
        "lltd/jobs/common.py",
        [
            (
                "if not self.force and matches(output, source, self.command):",
                "if not self.force and output.exists():",
            )
        ],
        "tests/test_compress_boundaries.py::test_leftovers_this_run_did_not_record_are_redone_whatever_their_size",
    ),
    (
        "transparency at alpha < 129",
        "lltd/imaging/transparency.py",
        [("< 255", "< 129")],
        "tests/test_transparency.py::test_one_pixel_of_alpha_254_is_transparency_all_255_is_not tests/test_compress_boundaries.py::test_one_pixel_of_alpha_254_or_a_present_trns_key_is_transparent",
    ),
    (
        "tRNS branch for RGB/L removed",
        "lltd/imaging/transparency.py",
        [('("P", "RGB", "L")', '("P",)')],
        "tests/test_transparency.py::test_a_trns_key_counts_only_when_a_pixel_has_that_colour tests/test_compress_boundaries.py::test_one_pixel_of_alpha_254_or_a_present_trns_key_is_transparent",
    ),
    (
        "tRNS true whatever the pixels",
        "lltd/imaging/transparency.py",
        [('        alpha = image.convert("RGBA").getchannel("A")', "        return True")],
        "tests/test_transparency.py::test_a_trns_key_counts_only_when_a_pixel_has_that_colour",
    ),
    (
        "atomic write replaced by rewriting the destination in place",
        "lltd/fs/atomic.py",
        [("os.replace(target.path, destination)", "shutil.copyfile(target.path, destination)")],
        "tests/test_atomic_writes.py::test_outputs_are_replaced_by_rename_never_rewritten_in_place",
    ),
    (
        "daemon start-up recovery disabled",
        "lltd/watch/folders.py",
        [
            (
                "    if folder.claims is not None:\n        return sum",
                "    return 0\n    if folder.claims is not None:\n        return sum",
            )
        ],
        "tests/test_watch_recovery.py::test_recovery_removes_every_lltd_temporary_in_out_and_the_state_folder_and_nothing_else tests/test_atomic_writes.py::test_daemon_start_removes_stale_temporaries_before_it_is_ready",
    ),
    (
        "adaptive PGD run against the undefended model",
        "lltd/evaluate/adaptive.py",
        [
            (
                "model, defense, images[standing], labels[standing], settings.epsilon,\n                steps",
                "model, None, images[standing], labels[standing], settings.epsilon,\n                steps",
            )
        ],
        "tests/test_adaptive_units.py::test_each_run_attacks_only_what_is_still_standing_and_results_merge",
    ),
    (
        "import torch added to lltd/jobs/compress.py",
        "lltd/jobs/compress.py",
        [("from PIL import Image\n", "from PIL import Image\nimport torch  # noqa\n")],
        "tests/test_heavy_imports.py::test_a_real_parallel_compress_run_imports_nothing_heavy",
    ),
    (
        "a node planted at the destination during a larger encode removed",
        "lltd/jobs/compress.py",
        [
            (
                "output.is_file() and not output.is_symlink()",
                "output.is_file() or not output.is_symlink()",
            )
        ],
        "tests/test_compress_observed.py::test_a_node_placed_at_the_destination_during_the_encode_is_left_alone",
    ),
    (
        "Pillow backend encodes lazily (decoder's diagnosis lost)",
        "lltd/jobs/compress.py",
        [('self.backend == "pillow" or', 'self.backend != "pillow" or')],
        "tests/test_compress_observed.py::test_a_truncated_image_is_diagnosed_by_the_decoder_not_the_encoder",
    ),
    (
        "planner takes dotfiles as inputs",
        "lltd/batch/plan.py",
        [('part.startswith(".")', 'part.startswith("XX.XX")')],
        "tests/test_planner_rules.py::test_hidden_files_and_files_in_hidden_folders_are_never_inputs",
    ),
    (
        "planner takes a file this command wrote as an input",
        "lltd/batch/plan.py",
        [("mark = self.tree.input_mark(relative)", "mark = None")],
        "tests/test_planner_rules.py::test_an_output_of_this_command_is_never_an_input_but_anothers_is",
    ),
    (
        "shared folder removes live temporaries",
        "lltd/watch/folders.py",
        [("if tmp.lstat().st_mtime < limit:", "if True:")],
        "tests/test_watch_recovery.py::test_a_shared_folder_recovers_only_temporaries_older_than_any_live_writer",
    ),
    (
        "BPDA flips the wrong axis on the way back",
        "lltd/evaluate/bpda.py",
        [("dims=(-1,) if parameter", "dims=(-2,) if parameter")],
        "tests/test_bpda_surrogate.py::test_the_backward_pass_is_the_surrogates_gradient",
    ),
    (
        "BPDA pads on the wrong side (x and y shares swapped)",
        "lltd/evaluate/bpda.py",
        [
            (
                "round(x_share * (width - new_w)), round(y_share * (height - new_h))",
                "round(y_share * (width - new_w)), round(x_share * (height - new_h))",
            )
        ],
        "tests/test_bpda_surrogate.py::test_the_resize_pad_surrogate_places_the_picture_where_the_kernel_does",
    ),
    # Issue 27: the bugs that passed every test before it, and those its tests found.
    (
        "a byte-intact output decided by size alone (SHA-256 skipped)",
        "lltd/batch/marks.py",
        [("return sha256_of(path) == (mark.output_size, mark.output_sha256)", "return True")],
        "tests/test_marks_forgery.py::test_an_output_with_a_byte_flipped_in_its_middle_is_not_intact",
    ),
    (
        "an unchanged original decided by size and mtime alone (SHA-256 skipped)",
        "lltd/batch/marks.py",
        [("return Source.of(path, name).sha256 == recorded.sha256", "return True")],
        "tests/test_marks_forgery.py::test_an_original_with_other_bytes_but_the_same_size_and_mtime_is_not_the_original tests/test_marks_forgery.py::test_replace_keeps_the_output_of_an_original_forged_to_the_same_size_and_mtime",
    ),
    (
        "--backend cwebp -q 75.5 encodes at 75",
        "lltd/codecs/cwebp.py",
        [('argv += ["-q", _exact(options.quality)]', 'argv += ["-q", str(int(options.quality))]')],
        "tests/test_cwebp_passthrough.py::test_compress_with_the_cwebp_backend_encodes_at_a_fractional_quality",
    ),
    (
        "-q passed with 6 significant digits (75.123456789 -> 75.1235; found by issue 27's tests)",
        "lltd/codecs/cwebp.py",
        [('argv += ["-q", _exact(options.quality)]', 'argv += ["-q", f"{options.quality:g}"]')],
        "tests/test_cwebp_passthrough.py::test_the_quality_reaches_cwebp_as_exactly_the_number_given",
    ),
    (
        "serve: a body of exactly --max-bytes refused with a Content-Length",
        "lltd/serve/intake.py",
        [("if int(declared) > max_bytes:", "if int(declared) >= max_bytes:")],
        "tests/test_serve_intake.py::test_a_body_of_exactly_max_bytes_is_taken_with_a_content_length",
    ),
    (
        "serve: a chunked body of exactly --max-bytes refused",
        "lltd/serve/intake.py",
        [("if size > max_bytes:", "if size >= max_bytes:")],
        "tests/test_serve_intake.py::test_a_body_of_exactly_max_bytes_is_taken_chunked",
    ),
    (
        "serve: Content-Type: Image/PNG refused with 415 (media types are case-insensitive)",
        "lltd/serve/intake.py",
        [
            (
                'media = declared.split(";", 1)[0].strip().lower()',
                'media = declared.split(";", 1)[0].strip()',
            )
        ],
        "tests/test_serve_intake.py::test_media_types_are_accepted_whatever_their_case_and_parameters",
    ),
    (
        "serve: Accept image/webp;q=0.000 still asks for WebP (found by issue 27's tests)",
        "lltd/serve/intake.py",
        [
            (
                "_weight(params) > 0",
                'not any(p.replace(" ", "") in ("q=0", "q=0.0") for p in params)',
            )
        ],
        "tests/test_serve_intake.py::test_accept_asks_for_webp_only_with_a_q_value_above_zero",
    ),
    (
        "--shared: a live daemon's claims taken over after --claim-timeout",
        "lltd/watch/shared.py",
        [("if previous is None or previous[0] != mtime:", "if previous is None:")],
        "tests/test_watch_claims.py::test_a_live_daemon_is_never_taken_over_however_long_it_runs",
    ),
    (
        "the 95 % Wilson interval's half-width wrong (4n instead of 4n^2)",
        "lltd/evaluate/stats.py",
        [("z * z / (4 * n * n)", "z * z / (4 * n)")],
        "tests/test_stats_wilson.py::test_the_wilson_interval_equals_the_published_values",
    ),
    (
        "a still-falling step curve passes the sanity check (tolerance doubled)",
        "lltd/evaluate/sanity.py",
        [("half - last <= tolerance(n)", "half - last <= 2 * tolerance(n)")],
        "tests/test_sanity_contracts.py::test_the_steps_check_fails_exactly_when_more_than_the_tolerance_falls_in_the_second_half",
    ),
    (
        "the sanity tolerance 20 % instead of 2 %",
        "lltd/evaluate/sanity.py",
        [("max(1 / max(n, 1), 0.02)", "max(1 / max(n, 1), 0.2)")],
        "tests/test_sanity_contracts.py::test_the_tolerance_is_one_image_or_two_percent_whichever_is_larger",
    ),
    (
        "keep_freed_memory leaves the heap trimmed (M_TRIM_THRESHOLD not set)",
        "lltd/common/allocator.py",
        [
            (
                "mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _NEVER) == 1",
                "mallopt(_M_MMAP_MAX, 0) == 1",
            )
        ],
        "tests/test_allocator.py::test_kept_freed_memory_is_served_from_the_heap_kept_after_free_and_reused",
    ),
    (
        "--max-pixels refuses an image of exactly the limit",
        "lltd/imaging/imageio.py",
        [("width * height > max_pixels:", "width * height >= max_pixels:")],
        "tests/test_limits_boundaries.py::test_max_pixels_takes_an_image_of_exactly_the_limit_and_refuses_one_pixel_more",
    ),
    # Survivors of issue 27's mutation campaign, each killed by a test written for it.
    (
        "an input of exactly keep bytes read twice (by descriptor)",
        "lltd/batch/marks.py",
        [("if opened.st.st_size <= keep:", "if opened.st.st_size < keep:")],
        "tests/test_marks_forgery.py::test_by_descriptor_an_input_of_at_most_keep_bytes_is_returned_read_once",
    ),
    (
        "the claim protocol sends SIGHUP, not signal 0, to a daemon it checks",
        "lltd/watch/shared.py",
        [("os.kill(pid, 0)", "os.kill(pid, 1)")],
        "tests/test_watch_claims.py::test_a_process_we_may_not_signal_is_alive_a_missing_one_is_not",
    ),
    (
        "grey PNGs with alpha sent through Pillow (their XMP packet lost under -metadata xmp)",
        "lltd/codecs/cwebp.py",
        [('    ("PNG", "LA"),', '    ("XXPNGXX", "LA"),')],
        "tests/test_cwebp_passthrough.py::test_cwebp_reads_each_png_mode_itself_so_metadata_xmp_keeps_the_packet",
    ),
    (
        "the Wilson interval's upper end left above 1 by float rounding (n = 16 at 100 %)",
        "lltd/evaluate/stats.py",
        [("min(1.0, max(centre + half, accuracy))", "min(2.0, max(centre + half, accuracy))")],
        "tests/test_stats_wilson.py::test_the_interval_never_leaves_0_1_even_by_float_rounding",
    ),
    # Issue 27, second round: survivors of the first campaign that the new contract tests kill.
    (
        "16-bit images scaled by 1/257 (grey levels shifted down)",
        "lltd/imaging/imageio.py",
        [
            (
                'scale = 1 / 256 if (mode != "I" or hi > 255 or lo < 0) else 1',
                'scale = 1 / 257 if (mode != "I" or hi > 255 or lo < 0) else 1',
            )
        ],
        "tests/test_imageio_contracts.py::test_16_bit_grey_is_scaled_by_1_in_256_not_clipped",
    ),
    (
        "float images of exactly 1.0 taken as 0-255 (a white pixel becomes black)",
        "lltd/imaging/imageio.py",
        [("scale = 255.0 if hi <= 1.0 else 1.0", "scale = 255.0 if hi < 1.0 else 1.0")],
        "tests/test_imageio_contracts.py::test_float_grey_up_to_1_is_scaled_by_255_and_beyond_1_is_taken_as_is",
    ),
    (
        "a two-frame animation converted as its first frame (frames > 2)",
        "lltd/imaging/imageio.py",
        [
            (
                'getattr(image, "is_animated", False) and frames > 1',
                'getattr(image, "is_animated", False) and frames > 2',
            )
        ],
        "tests/test_imageio_contracts.py::test_an_animated_image_is_refused_with_its_frame_count_unless_animation_is_allowed",
    ),
    (
        "an empty file read as an image (size == 1)",
        "lltd/imaging/imageio.py",
        [("if size == 0:", "if size == 1:")],
        "tests/test_imageio_contracts.py::test_an_empty_file_is_refused_as_empty_and_a_one_byte_file_as_not_an_image",
    ),
    (
        "the service's error answers without X-Lltd-Problem's kind (headers dropped)",
        "lltd/serve/problems.py",
        [
            (
                "headers = {**(headers or {}), MARKER: kind}",
                "headers = {**(headers and {}), MARKER: kind}",
            )
        ],
        "tests/test_serve_problems.py::test_the_headers_of_a_refusal_are_kept_beside_the_marker",
    ),
    (
        "an error answer's message not folded onto one line",
        "lltd/serve/problems.py",
        [('" ".join(message.split())', "message")],
        "tests/test_serve_problems.py::test_an_error_answer_is_one_line_of_json_with_the_message_folded_and_the_status",
    ),
    (
        "a source checkout's version read from the folder above the checkout",
        "lltd/common/version.py",
        [("parents[2]", "parents[3]")],
        "tests/test_version.py::test_a_checkout_never_installed_reads_the_version_line_of_its_pyproject",
    ),
    (
        "the version read anew on every call",
        "lltd/common/version.py",
        [("@cache\n", "")],
        "tests/test_version.py::test_the_version_is_read_once_per_process",
    ),
    (
        "the daemon's queued count subtracts arrivals (status file)",
        "lltd/watch/intake.py",
        [
            (
                "return len(self._backlog) + len(self._live)",
                "return len(self._backlog) - len(self._live)",
            )
        ],
        "tests/test_watch_intake.py::test_files_found_by_scans_go_before_arrivals_each_in_order",
    ),
    (
        "an arrival accepted (and lost) after the intake closed",
        "lltd/watch/intake.py",
        [
            (
                "            if self._closed:\n                return False\n            self._note",
                "            if self._closed:\n                return True\n            self._note",
            )
        ],
        "tests/test_watch_intake.py::test_close_refuses_an_arrival_even_with_room_and_wakes_a_waiting_take",
    ),
    (
        "the version a file settled with forgotten (the worker compares against nothing)",
        "lltd/watch/intake.py",
        [("if version is not None:", "if version is None:")],
        "tests/test_watch_intake.py::test_the_version_a_file_settled_with_is_kept_until_it_is_released",
    ),
    (
        "-qrange 50 40 taken (min above max)",
        "lltd/codecs/cwebp_values.py",
        [
            (
                'if spec.name == "-qrange" and values[0] > values[1]:',
                'if spec.name == "-qrange" and values[0] > values[1] + 100:',
            )
        ],
        "tests/test_cwebp_values.py::test_qrange_takes_min_equal_to_max_and_refuses_min_above_max",
    ),
    (
        "-metadata's kinds never checked",
        "lltd/codecs/cwebp_values.py",
        [('if spec.name == "-metadata":', 'if spec.name == "XX-metadataXX":')],
        "tests/test_cwebp_values.py::test_metadata_takes_its_kinds_and_refuses_another_listing_them",
    ),
    (
        "keep_freed_memory says it applied the setting when the C library cannot be loaded",
        "lltd/common/allocator.py",
        [
            (
                "    except (OSError, AttributeError):\n        return False",
                "    except (OSError, AttributeError):\n        return True",
            )
        ],
        "tests/test_allocator.py::test_no_op_returning_false_when_the_c_library_cannot_be_loaded",
    ),
    (
        "only the first dead daemon of this host found per round (continue -> break)",
        "lltd/watch/shared.py",
        [
            (
                "                    dead.append(other)\n                    continue",
                "                    dead.append(other)\n                    break",
            )
        ],
        "tests/test_watch_claims.py::test_every_dead_process_of_this_host_is_found_not_only_the_first",
    ),
    (
        "a keep-alive link's target taken for the daemon's heartbeat",
        "lltd/watch/shared.py",
        [
            (
                'os.stat(f"{other}/{ALIVE}", dir_fd=claims, follow_symlinks=False)',
                'os.stat(f"{other}/{ALIVE}", dir_fd=claims, follow_symlinks=True)',
            )
        ],
        "tests/test_watch_claims.py::test_a_keep_alive_that_is_a_link_is_no_heartbeat_whatever_its_target_does",
    ),
    (
        "stop() empties the folders below the working directory instead of its own",
        "lltd/watch/shared.py",
        [
            (
                "                remove_own(fd, ALIVE)\n                remove_empty_dirs(fd)",
                "                remove_own(fd, ALIVE)\n                remove_empty_dirs(None)",
            )
        ],
        "tests/test_watch_claims.py::test_stopping_gives_back_files_in_subfolders_and_leaves_no_folder_of_ours",
    ),
    (
        "a link planted in our claim folder taken for a file we hold",
        "lltd/watch/shared.py",
        [
            (
                "        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)",
                "        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=True)",
            )
        ],
        "tests/test_watch_claims.py::test_a_link_in_our_claim_folder_is_not_a_file_we_hold",
    ),
    (
        "stopping a daemon that never started makes its claim folder",
        "lltd/watch/shared.py",
        [
            (
                "            fd = open_dir(self.root, (*self._parts, self.me), create=False)\n            try:\n                remove_own",
                "            fd = open_dir(self.root, (*self._parts, self.me), create=True)\n            try:\n                remove_own",
            )
        ],
        "tests/test_watch_claims.py::test_stopping_a_daemon_that_never_started_creates_nothing",
    ),
    (
        "provenance hashes read through a link (O_NOFOLLOW lost to operator precedence)",
        "lltd/batch/marks.py",
        [
            (
                "os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)",
                "os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC & os.O_NOFOLLOW)",
            )
        ],
        "tests/test_marks_forgery.py::test_a_link_is_never_read_through_to_describe_or_hash_the_file_it_names",
    ),
    (
        "stale temporaries: a link or FIFO with our temporary name removed",
        "lltd/fs/atomic.py",
        [
            (
                "if stat.S_ISREG(st.st_mode) and (older_than is None",
                "if stat.S_ISREG(st.st_mode) or (older_than is None",
            )
        ],
        "tests/test_atomic_contracts.py::test_stale_temporaries_are_regular_files_of_our_name_only",
    ),
    (
        "make_durable blocks on a FIFO (O_NONBLOCK lost to operator precedence)",
        "lltd/fs/atomic.py",
        [
            (
                "flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK",
                "flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW & os.O_NONBLOCK",
            )
        ],
        "tests/test_atomic_contracts.py::test_make_durable_returns_quietly_for_a_file_a_fifo_a_link_and_nothing --timeout=20",
    ),
    (
        "the extent copy loops forever on data past the size it copies (break -> continue)",
        "lltd/fs/atomic.py",
        [
            (
                "        if data >= size:\n            break",
                "        if data >= size:\n            continue",
            )
        ],
        "tests/test_atomic_contracts.py::test_an_extent_copy_stops_at_size_even_when_data_lies_beyond --timeout=20",
    ),
    (
        "the extent copy reads past its extent and fills the next hole with zeros",
        "lltd/fs/atomic.py",
        [("min(_COPY_CHUNK, end - data)", "min(_COPY_CHUNK, end + data)")],
        "tests/test_atomic_contracts.py::test_an_extent_copy_keeps_every_hole_a_hole_wherever_it_lies",
    ),
    (
        "copy_atomic refuses to replace an existing output by default",
        "lltd/fs/atomic.py",
        [
            (
                "    folder: Folder | None = None,\n    replaces: Version | bool = True,\n) -> None:",
                "    folder: Folder | None = None,\n    replaces: Version | bool = False,\n) -> None:",
            )
        ],
        "tests/test_atomic_contracts.py::test_a_copy_replaces_a_regular_file_at_the_destination_unless_told",
    ),
    (
        "a batch's totals start with one file scanned",
        "lltd/batch/outcome.py",
        [("    scanned: int = 0", "    scanned: int = 1")],
        "tests/test_outcome_contracts.py::test_totals_start_at_zero",
    ),
    (
        "a failed file's result reports one byte written",
        "lltd/batch/outcome.py",
        [("    bytes_after: int = 0", "    bytes_after: int = 1")],
        "tests/test_outcome_contracts.py::test_a_bare_result_has_no_bytes_no_error_and_does_not_stop_the_batch",
    ),
    (
        "defend's report names its settings settings.settings again",
        "lltd/batch/provenance.py",
        [('if "settings" in fields:', 'if "XXsettingsXX" in fields:')],
        "tests/test_provenance_facts.py::test_defends_settings_are_reported_as_defense_not_settings_settings",
    ),
    (
        "an input's growth past --max-bytes counted on its last chunk only",
        "lltd/batch/marks.py",
        [("                read += len(chunk)", "                read = len(chunk)")],
        "tests/test_marks_forgery.py::test_an_input_that_grows_past_max_bytes_is_refused_however_many_chunks_it_takes",
    ),
    (
        "printable leaves DEL (0x7f) unescaped: the C1 range starts at 128",
        "lltd/common/text.py",
        [("*range(0x7F, 0xA0)", "*range(128, 0xA0)")],
        "tests/test_text_contracts.py",
    ),
    (
        "one_line escapes backslashes too (names printable escaped, escaped twice)",
        "lltd/common/text.py",
        [('if code != ord("\\\\")}', "if code == code}")],
        "tests/test_text_contracts.py",
    ),
    (
        "the walk opens the second component as the last (parts[+1]: right for two, wrong for three)",
        "lltd/fs/resolve.py",
        [("return os.open(parts[-1], flags", "return os.open(parts[+1], flags")],
        "tests/test_resolve_contracts.py::test_a_name_of_any_depth_opens_that_file_and_leaks_no_descriptor",
    ),
    (
        "openat2 never used (its number lost): every name walks, and nothing said so",
        "lltd/fs/resolve.py",
        [("number = _SYS_OPENAT2.get(os.uname().machine)", "number = None")],
        "tests/test_resolve_contracts.py::test_this_kernel_resolves_with_openat2",
    ),
    (
        "openat2 refuses mount crossings (RESOLVE_NO_XDEV slipped into the flags)",
        "lltd/fs/resolve.py",
        [("RESOLVE_BENEATH = 0x08", "RESOLVE_BENEATH = 0x09")],
        "tests/test_resolve_contracts.py::test_a_mount_inside_the_tree_is_crossed",
    ),
    (
        "openat2_available leaks a descriptor of / at each call",
        "lltd/fs/resolve.py",
        [("    finally:\n        os.close(root)\n    return True", "    return True")],
        "tests/test_resolve_contracts.py::test_this_kernel_resolves_with_openat2",
    ),
    (
        "is_url says yes to every string (and would be TypeError on a Path)",
        "lltd/common/urls.py",
        [("isinstance(location, str) and bool", "isinstance(location, str) or bool")],
        "tests/test_urls.py",
    ),
    (
        "serve's body budget one MiB off the documented 512 MiB",
        "lltd/common/limits.py",
        [
            (
                "DEFAULT_INFLIGHT_BYTES = 512 * 1024 * 1024",
                "DEFAULT_INFLIGHT_BYTES = 512 * 1025 * 1024",
            )
        ],
        "tests/test_limits_boundaries.py::test_serve_budgets_are_the_documented_figures_and_fit_the_shipped_units_memory",
    ),
    (
        "the planner takes apart trees for overlapping ones (Relation.overlaps inverted)",
        "lltd/fs/relation.py",
        [("return self is not Relation.APART", "return self is Relation.APART")],
        "tests/test_relation_contracts.py tests/test_planner_relations.py",
    ),
    (
        "path_below closes the caller's folder descriptor",
        "lltd/fs/relation.py",
        [
            (
                "            if fd != inner.fd:\n                os.close(fd)\n            fd = parent",
                "            if fd == inner.fd:\n                os.close(fd)\n            fd = parent",
            )
        ],
        "tests/test_relation_contracts.py",
    ),
    (
        "KServe v2 BYTES input sent with shape [2]",
        "lltd/serve/payloads.py",
        [('"shape": [1], "datatype": "BYTES"', '"shape": [2], "datatype": "BYTES"')],
        "tests/test_serve_payloads_unit.py",
    ),
    (
        "a cancelled head stops the release from serving the waits behind it in that turn",
        "lltd/serve/admission.py",
        [
            (
                "                self.waiting.popleft()\n                continue",
                "                self.waiting.popleft()\n                break",
            )
        ],
        "tests/test_serve_admission_unit.py::test_a_wait_cancelled_in_the_same_turn_as_a_release_gets_nothing_and_the_next_is_served",
    ),
    (
        "a failed cwebp reported by its first error line, not its last",
        "lltd/codecs/cwebp_locate.py",
        [("return errors[-1] if errors", "return errors[0] if errors")],
        "tests/test_cwebp_locate.py",
    ),
    (
        "a folder named cwebp on PATH taken for the program",
        "lltd/codecs/cwebp_locate.py",
        [("return stat.S_ISREG(mode) and os.access", "return stat.S_ISREG(mode) or os.access")],
        "tests/test_cwebp_locate.py",
    ),
    (
        "touch sets the times through a link put at the name after its open (issue 27, fs/entries)",
        "lltd/fs/entries.py",
        [
            (
                "os.utime(name, dir_fd=dir_fd, follow_symlinks=False)",
                "os.utime(name, dir_fd=dir_fd, follow_symlinks=True)",
            )
        ],
        "tests/test_entries_contracts.py::test_touch_never_sets_times_through_a_link_put_at_the_name_after_it_opened",
    ),
    (
        "move_verified takes a link to the expected file for that file (stat follows it)",
        "lltd/fs/entries.py",
        [
            (
                "st = os.stat(new_name, dir_fd=dst_fd, follow_symlinks=False)",
                "st = os.stat(new_name, dir_fd=dst_fd, follow_symlinks=True)",
            )
        ],
        "tests/test_entries_contracts.py::test_move_verified_puts_back_a_link_to_the_expected_file_swapped_in_for_it",
    ),
    (
        "remove_named skips a name that is exactly prefix then suffix (>= -> >)",
        "lltd/fs/entries.py",
        [("long_enough = len(name) >= len(", "long_enough = len(name) > len(")],
        "tests/test_entries_contracts.py::test_remove_named_takes_a_name_that_is_exactly_prefix_then_suffix",
    ),
    (
        "a run that reads and writes one folder holds it shared only (fs/locks)",
        "lltd/fs/locks.py",
        [
            (
                "if tree.identity not in wanted or kind == fcntl.LOCK_EX:",
                "if tree.identity not in wanted or kind != fcntl.LOCK_EX:",
            )
        ],
        "tests/test_locks_contracts.py::test_a_run_that_reads_and_writes_one_folder_holds_it_exclusively",
    ),
    (
        "the writer's mark on another byte than the one other lltd versions look for (1 -> 2)",
        "lltd/fs/locks.py",
        [("READER, WRITER_BELOW = 0, 1", "READER, WRITER_BELOW = 0, 2")],
        "tests/test_locks_contracts.py::test_a_reader_marks_byte_0_of_its_folder_and_a_writer_byte_1_of_each_ancestor",
    ),
    (
        'a held ancestor named "a folder that contains it" where /proc names it',
        "lltd/fs/locks.py",
        [('os.readlink(f"/proc/self/fd/{fd}")', 'os.readlink(f"/proc/self/fdX/{fd}")')],
        "tests/test_locks_contracts.py::test_a_writer_inside_a_folder_a_writer_holds_is_refused_naming_the_held_ancestor",
    ),
    (
        "remove unlinks a file that changed after it was set aside (held `and` -> `or`)",
        "lltd/fs/tree.py",
        [("if held is not None and stat.S_ISREG", "if held is not None or stat.S_ISREG")],
        "tests/test_tree_contracts.py::test_a_file_that_changes_once_set_aside_is_put_back_under_its_name",
    ),
    (
        "remove moves aside, then back, a file that is not the version decided on (`or` -> `and`)",
        "lltd/fs/tree.py",
        [
            (
                "if not stat.S_ISREG(st.st_mode) or Version.of(st) != expected:",
                "if not stat.S_ISREG(st.st_mode) and Version.of(st) != expected:",
            )
        ],
        "tests/test_tree_contracts.py::test_a_node_that_is_not_the_version_decided_on_is_never_moved",
    ),
    (
        "a Folder or Input held as descriptor 0 is never closed (`>= 0` -> `> 0`)",
        "lltd/fs/tree.py",
        [("if self.fd >= 0:", "if self.fd > 0:")],
        "tests/test_tree_contracts.py::test_a_folder_held_as_descriptor_zero_is_closed_like_any_other tests/test_tree_contracts.py::test_an_input_held_as_descriptor_zero_is_closed_like_any_other",
    ),
    (
        "clear stops at the first folder it enters (`continue` -> `break`)",
        "lltd/fs/tree.py",
        [
            (
                "stack.append((os.open(below, DIR_FLAGS, dir_fd=fd), below))\n                    continue",
                "stack.append((os.open(below, DIR_FLAGS, dir_fd=fd), below))\n                    break",
            )
        ],
        "tests/test_tree_contracts.py::test_clear_empties_a_tree_of_several_levels_and_folders_and_follows_no_link",
    ),
    (
        "a missed close holds a file for 31 settle periods",
        "lltd/watch/settle.py",
        [("OPEN_GRACE_FACTOR = 30", "OPEN_GRACE_FACTOR = 31")],
        "tests/test_settle_contracts.py::test_a_missed_close_holds_a_file_for_exactly_30_settle_periods",
    ),
    (
        "one close releases a file two writers have open",
        "lltd/watch/settle.py",
        [("entry.opens += 1", "entry.opens = 1")],
        "tests/test_settle_contracts.py::test_each_open_needs_its_own_close",
    ),
    (
        "a path forgotten during a sweep ends the sweep (continue -> break)",
        "lltd/watch/settle.py",
        [
            (
                "continue  # forgotten or replaced meanwhile",
                "break  # forgotten or replaced meanwhile",
            )
        ],
        "tests/test_settle_contracts.py::test_a_path_forgotten_during_a_sweep_is_skipped_and_the_rest_still_settle",
    ),
    (
        "the lock follows a link planted as the lock (O_NOFOLLOW lost to operator precedence)",
        "lltd/watch/lock.py",
        [("os.O_CLOEXEC | os.O_NOFOLLOW", "os.O_CLOEXEC & os.O_NOFOLLOW")],
        "tests/test_lock_contracts.py::test_a_link_planted_as_the_lock_is_refused_and_its_target_untouched",
    ),
    (
        "the lock made through the state folder's name, not the descriptor opened for it",
        "lltd/watch/lock.py",
        [("if self.dir_fd is None:", "if self.dir_fd is not None:")],
        "tests/test_lock_contracts.py::test_the_lock_is_made_in_the_opened_state_folder_even_if_its_name_now_leads_elsewhere",
    ),
    (
        "--shared holders keep a killed daemon's pid, which a refusal then names",
        "lltd/watch/lock.py",
        [
            (
                "        self._fd = fd\n",
                "        self._fd = fd\n        if self.shared:\n            return\n",
            )
        ],
        "tests/test_lock_contracts.py::test_a_shared_holder_clears_the_pid_of_a_dead_daemon_so_no_refusal_names_it",
    ),
    (
        "WATCHDOG_USEC=0 turns a watchdog on",
        "lltd/watch/notify.py",
        [("int(usec_text) > 0", "int(usec_text) >= 0")],
        "tests/test_notify_contracts.py::test_watchdog_usec_enables_keep_alives_every_half_timeout_only_when_positive",
    ),
    (
        "STOPPING=1 waits 6 s for a full socket",
        "lltd/watch/notify.py",
        [
            (
                "if status else []), wait=5.0)\n\n    def close",
                "if status else []), wait=6.0)\n\n    def close",
            )
        ],
        "tests/test_notify_contracts.py::test_ready_and_stopping_may_wait_5_s_for_room_status_and_watchdog_never_wait",
    ),
    (
        "close never closes the socket",
        "lltd/watch/notify.py",
        [
            (
                "if self._socket is not None:\n            with",
                "if self._socket is None:\n            with",
            )
        ],
        "tests/test_notify_contracts.py::test_close_frees_the_socket_and_may_be_repeated_and_a_send_after_it_reopens",
    ),
    (
        "a dot-folder below the first level lets its files through",
        "lltd/watch/handler.py",
        [("for part in parts[:-1]", "for part in parts[:1]")],
        "tests/test_handler_contracts.py::test_nothing_under_a_dot_folder_at_any_depth_is_an_input",
    ),
    (
        "a link loop in IN crashes the daemon (RuntimeError from resolve on Python 3.11)",
        "lltd/watch/handler.py",
        [("except (OSError, RuntimeError):", "except OSError:")],
        "tests/test_handler_contracts.py::test_a_link_loop_is_no_input_and_raises_nothing",
    ),
    (
        "a refused folder (.lltd, the output) scanned when created",
        "lltd/watch/handler.py",
        [("if target is not None and self.filter", "if target is not None or self.filter")],
        "tests/test_handler_contracts.py::test_only_folders_the_filter_accepts_are_scanned",
    ),
    (
        "a run's tree reopened by its path at every call (a folder swapped in after planning is used)",
        "lltd/fs/places.py",
        [("found[0] == os.getpid()", "found[0] != os.getpid()")],
        "tests/test_places_contracts.py::test_a_tree_once_opened_stays_the_folder_that_was_opened_not_what_its_path_names_later",
    ),
    (
        "an output folder below the tree's root never closed (one descriptor leaked per output)",
        "lltd/fs/places.py",
        [
            (
                "return tree.child(parent, create=create), below.name, True",
                "return tree.child(parent, create=create), below.name, False",
            )
        ],
        "tests/test_places_contracts.py::test_an_output_deeper_in_its_tree_is_reached_beneath_it_and_must_be_closed",
    ),
    (
        "a copy elsewhere split as if planned (its name looked up under the wrong root)",
        "lltd/fs/places.py",
        [("if parts and source.parts", "if parts or source.parts")],
        "tests/test_places_contracts.py::test_an_input_that_does_not_end_with_its_relative_path_is_opened_in_its_own_folder",
    ),
    (
        "the settings' environment variable renamed (every worker process serves the defaults)",
        "lltd/serve/settings.py",
        [('ENVIRONMENT_KEY = "LLTD_SERVE_SETTINGS"', 'ENVIRONMENT_KEY = "LLTD_SETTINGS"')],
        "tests/test_serve_settings_contracts.py::test_from_environment_reads_LLTD_SERVE_SETTINGS",
    ),
    (
        "threads not divided among the workers (each process takes every core)",
        "lltd/serve/settings.py",
        [("(cores or 1) // max(1, self.workers)", "(cores or 1)")],
        "tests/test_serve_settings_contracts.py::test_threads_default_to_this_processs_cores_divided_among_the_workers",
    ),
    (
        "the connection limit counts only the threads, not the queue behind them",
        "lltd/serve/settings.py",
        [("4 * (self.thread_count() + self.queue_size())", "4 * self.thread_count()")],
        "tests/test_serve_settings_contracts.py::test_connection_limit_is_four_per_admitted_request_at_least_64",
    ),
    (
        "WebP answers lose the colour under transparent pixels (libwebp's default, not exact)",
        "lltd/serve/kernel.py",
        [("exact=True,", "exact=False,")],
        "tests/test_serve_kernel_contracts.py::test_webp_answers_are_lossless_and_keep_the_colour_under_transparent_pixels",
    ),
    (
        "a seeded draw not keyed by the body (every image of a service gets the same draw)",
        "lltd/serve/kernel.py",
        [("if settings.seed is not None else None", "if settings.seed is None else None")],
        "tests/test_serve_kernel_contracts.py::test_a_seeded_draw_is_keyed_by_the_bodys_sha256",
    ),
    (
        "an image of exactly --max-pixels refused",
        "lltd/serve/kernel.py",
        [("if width * height > max_pixels:", "if width * height >= max_pixels:")],
        "tests/test_serve_kernel_contracts.py::test_the_pixel_limit_takes_exactly_the_limit_and_refuses_one_more",
    ),
    (
        "a pipelined request under way cut off by a 408 (the idle check dropped)",
        "lltd/serve/protocol.py",
        [("idle = self.cycle is None or self.cycle.response_complete", "idle = True")],
        "tests/test_serve_protocol_contracts.py::test_a_pipelined_request_in_progress_gets_no_408",
    ),
    (
        "a kept-alive connection waits for its next head for ever (the deadline not re-armed)",
        "lltd/serve/protocol.py",
        [("            self._arm()  # the next", "            pass  # the next")],
        "tests/test_serve_protocol_contracts.py::test_a_kept_alive_connection_has_the_read_timeout_again_for_its_next_head",
    ),
    (
        "the 503 beyond --max-connections in uvicorn's plain text",
        "lltd/serve/protocol.py",
        [("h11_impl.service_unavailable = _too_many_connections", "pass")],
        "tests/test_serve_protocol_contracts.py::test_beyond_max_connections_a_request_gets_a_json_503_with_retry_after",
    ),
    (
        "a legend line exactly the width wide gets its comma and passes the width (> again)",
        "lltd/evaluate/terminal.py",
        [("if line and len(joined) >= width:", "if line and len(joined) > width:")],
        "tests/test_terminal_contracts.py::test_legend_lines_with_their_commas_never_pass_the_width",
    ),
    (
        "evaluate's table takes one attack column fewer than the width holds",
        "lltd/evaluate/terminal.py",
        [("(width - first - CELL - 1) // CELL", "(width - first - CELL - 2) // CELL")],
        "tests/test_terminal_contracts.py::test_each_table_takes_every_attack_column_that_fits_one_column_short_of_the_width",
    ),
    (
        "the first numbered attack column named A2 instead of A1",
        "lltd/evaluate/terminal.py",
        [("numbered = 0", "numbered = 1")],
        "tests/test_terminal_contracts.py::test_oblivious_attacks_get_their_short_names_and_the_others_are_numbered_a1_a2",
    ),
    (
        "the reference model's DEFAULT weights trained into the cache, then not loaded (random)",
        "lltd/models/registry.py",
        [("        weights = path\n", "        weights = None\n")],
        "tests/test_model_registry_contracts.py::test_default_weights_are_trained_once_into_the_cache_announced_in_one_line",
    ),
    (
        "a package.module:function model's own input_size ignored (224 instead)",
        "lltd/models/registry.py",
        [("size = entry.size or int(", "size = entry.size and int(")],
        "tests/test_model_registry_contracts.py::test_a_factory_models_own_size_normalisation_and_names_win",
    ),
    (
        "--device cuda taken on a machine without CUDA",
        "lltd/models/registry.py",
        [
            (
                'if device.startswith("cuda") and not torch.cuda',
                'if device.startswith("cuda") and torch.cuda',
            )
        ],
        "tests/test_model_registry_contracts.py::test_auto_is_the_cpu_without_cuda_and_a_cuda_device_is_refused_in_one_line",
    ),
    (
        "a planned output whose name held nothing may replace any file that appears there",
        "lltd/batch/plan.py",
        [
            (
                "        return False\n    return Version.of(st)",
                "        return True\n    return Version.of(st)",
            )
        ],
        "tests/test_plan_contracts.py::test_a_name_holding_no_regular_file_is_planned_to_replace_nothing_so_a_later_file_is_kept",
    ),
    (
        "-o a folder holding the input leaves out the input's subfolder named like the input",
        "lltd/batch/plan.py",
        [("inside = not job.in_place and related[0]", "inside = not job.in_place or related[0]")],
        "tests/test_plan_contracts.py::test_an_output_folder_holding_the_input_leaves_out_no_subfolder_named_like_the_input",
    ),
    (
        "a listing's word that a name is no plain file ignored: a folder planned as an input",
        "lltd/batch/plan.py",
        [("            problem = not_regular(name)", "            problem = None")],
        "tests/test_plan_contracts.py::test_a_listing_that_knows_sizes_and_kinds_is_believed_and_nothing_is_stat_ed",
    ),
    (
        "storage: -o a folder holding the input takes an unrecorded original there for a leftover",
        "lltd/cluster/remote.py",
        [
            (
                "overlaps = inside is not None or source.relative_to(destination) is not None",
                "overlaps = inside is not None",
            )
        ],
        "tests/test_remote_contracts.py::test_with_o_holding_the_input_an_unrecorded_file_is_never_taken_for_a_leftover",
    ),
    (
        "the walk enters a link to a folder (is_dir follows links)",
        "lltd/fs/walk.py",
        [("entry.is_dir(follow_symlinks=False)", "entry.is_dir(follow_symlinks=True)")],
        "tests/test_walk_contracts.py::test_links_fifos_and_files_are_listed_as_other_names_and_no_link_is_entered",
    ),
    (
        "the walk lists a folder met a second time again (the seen rule removed)",
        "lltd/fs/walk.py",
        [("if (st.st_dev, st.st_ino) in seen:", "if False:")],
        "tests/test_walk_contracts.py::test_a_folder_met_a_second_time_goes_to_onerror_as_eloop_and_is_not_listed_again",
    ),
    (
        "defend draws from the key's source and ignores the caller's rng",
        "lltd/transforms.py",
        [
            (
                "settings.draw(rng) if rng is not None else settings.draw_for(key)",
                "settings.draw_for(key)",
            )
        ],
        "tests/test_transforms_contracts.py::test_defend_with_an_rng_draws_from_it_whatever_the_key",
    ),
    (
        "a seeded Defend callable draws the seed's first draw at every call",
        "lltd/transforms.py",
        [("self.settings.rng() if self.settings.seed is not None else None", "None")],
        "tests/test_transforms_contracts.py::test_a_seeded_defend_callable_replays_one_sequence_of_draws_from_construction_on",
    ),
    (
        "serve --workers: /metrics shows one worker's values (the multiprocess switch reads another variable)",
        "lltd/serve/metrics.py",
        [('os.environ.get("PROMETHEUS_MULTIPROC_DIR")', 'os.environ.get("PROMETHEUS_MULTIPROC")')],
        "tests/test_serve_metrics_contracts.py::test_with_a_multiprocess_directory_each_scrape_sums_every_workers_files",
    ),
    (
        "a stage bucket moved (1 s -> 2 s): the le 1.0 a dashboard reads is gone",
        "lltd/serve/metrics.py",
        [("0.5, 1, 2.5, 5, 10)", "0.5, 2, 2.5, 5, 10)")],
        "tests/test_serve_metrics_contracts.py::test_stage_histogram_has_the_fixed_buckets_and_counts_each_stage_apart",
    ),
    (
        "serve's metrics registered in prometheus_client's global registry, not the service's",
        "lltd/serve/metrics.py",
        [("reg = self.registry", "reg = None")],
        "tests/test_serve_metrics_contracts.py::test_each_service_has_its_own_registry",
    ),
    (
        "/metrics announces prometheus_client's latest text format (1.0.0), not 0.0.4",
        "lltd/common/exposition.py",
        [("version=0.0.4", "version=1.0.0")],
        "tests/test_exposition_contracts.py::test_the_media_type_is_text_format_0_0_4_in_utf8",
    ),
    (
        "/metrics renders prometheus_client's global registry instead of the one given",
        "lltd/common/exposition.py",
        [("return generate_latest(registry)", "return generate_latest()")],
        "tests/test_exposition_contracts.py::test_render_names_counters_with_total_and_renders_only_the_registry_given",
    ),
    (
        "--shared: a marker read through a link planted at its name (O_NOFOLLOW dropped)",
        "lltd/watch/names.py",
        [("os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC", "os.O_RDONLY | os.O_CLOEXEC")],
        "tests/test_names_contracts.py::test_a_link_planted_at_a_markers_name_is_never_followed",
    ),
    (
        "--shared: the name markers not a complete record (an unrecorded output taken as a leftover)",
        "lltd/watch/names.py",
        [("    complete = True  # every name", "    complete = False  # every name")],
        "tests/test_names_contracts.py::test_an_unrecorded_file_is_never_taken_as_a_leftover_where_the_markers_hold_the_names",
    ),
    (
        "--shared: a marker's temporary created without O_EXCL (written through a planted link)",
        "lltd/watch/names.py",
        [("os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW", "os.O_CREAT")],
        "tests/test_names_contracts.py::test_a_link_planted_at_the_temporarys_name_is_never_written_through",
    ),
    (
        "sanity: the identity check passed on equal accuracies alone (`and` -> `or`)",
        "lltd/evaluate/sanity.py",
        [("same == len(labels) and plain_acc", "same == len(labels) or plain_acc")],
        "tests/test_sanity_contracts.py::test_the_identity_check_fails_when_an_image_differs_though_the_accuracies_agree",
    ),
    (
        "sanity: the stronger configuration allowed to break two robust images",
        "lltd/evaluate/sanity.py",
        [("passed: bool | None = broken <= 1", "passed: bool | None = broken <= 2")],
        "tests/test_sanity_contracts.py::test_the_stronger_attack_may_break_at_most_one_image_the_report_counts_as_robust",
    ),
    (
        "sanity: the steps check's halfway point a third of the way (`steps // 2` -> `steps // 3`)",
        "lltd/evaluate/sanity.py",
        [("abs(point[0] - steps // 2)", "abs(point[0] - steps // 3)")],
        "tests/test_sanity_contracts.py::test_the_halfway_point_is_the_curve_mark_nearest_half_the_steps_the_earlier_on_a_tie",
    ),
    (
        "lltd cwebp -q 50 -lossless -z 9: a later core option undoes -q, so -z is kept (cwebp drops it)",
        "lltd/codecs/grammar.py",
        [("out.quality_or_method |= name in", "out.quality_or_method = name in")],
        "tests/test_grammar_contracts.py::test_z_gives_way_to_q_or_m_anywhere_on_the_line_as_in_cwebp",
    ),
    (
        "lltd cwebp -s W H reads the raw YUV input as H x W",
        "lltd/codecs/grammar.py",
        [("(int(values[0]), int(values[1]))", "(int(values[1]), int(values[0]))")],
        "tests/test_grammar_contracts.py::test_s_reads_the_input_as_raw_yuv_of_that_width_and_height",
    ),
    (
        "lltd cwebp refuses the input - as an unknown option",
        "lltd/codecs/grammar.py",
        [('elif arg.startswith("-") and arg != "-":', 'elif arg.startswith("-"):')],
        "tests/test_grammar_contracts.py::test_a_lone_dash_is_an_input_name_not_an_option",
    ),
    (
        "watch --metrics-port: a scraper that connects and sends nothing holds up the daemon's stop (request threads joined)",
        "lltd/watch/metrics.py",
        [("daemon_threads = True", "daemon_threads = False")],
        "tests/test_watch_metrics_contracts.py::test_a_stalled_scraper_does_not_hold_up_close",
    ),
    (
        "watch: a close-to-output latency below zero (a writer's clock ahead) counted as 1 s",
        "lltd/watch/metrics.py",
        [("max(0.0, seconds)", "max(1.0, seconds)")],
        "tests/test_watch_metrics_contracts.py::test_a_negative_latency_counts_as_zero",
    ),
    (
        "watch --metrics-port 65535 refused",
        "lltd/watch/metrics.py",
        [("0 <= int(port) <= 65535", "0 <= int(port) < 65535")],
        "tests/test_watch_metrics_contracts.py::test_an_address_is_a_port_on_loopback_or_host_colon_port",
    ),
    (
        "watch: a --status-file made a link or a folder while running stops the daemon",
        "lltd/watch/status.py",
        [
            (
                "            except UnsafeDestination as exc:  # made a link or a folder since start-up\n                self.warn(str(exc))\n",
                "",
            )
        ],
        "tests/test_watch_status_contracts.py::test_a_status_file_replaced_by_a_link_or_folder_is_a_warning_not_the_daemons_end",
    ),
    (
        "watch: the summary line shows totals where it promises the change since its last line",
        "lltd/watch/status.py",
        [("state[0] - self.shown[0], state[1] - self.shown[1]", "state[0], state[1]")],
        "tests/test_watch_status_contracts.py::test_the_summary_counts_from_zero_and_shows_the_change_since_its_last_line",
    ),
    (
        "watch: STATUS= and the status file rewritten at every change (the period ignored)",
        "lltd/watch/status.py",
        [("now - self._written < self.period", "now - self._written < 0")],
        "tests/test_watch_status_contracts.py::test_changes_are_published_at_most_once_per_quarter_second_by_default",
    ),
    (
        "lltd cwebp hands a 1-bit grey PNG (Pillow's mode 1) to cwebp as it is",
        "lltd/codecs/image_header.py",
        [("{(2, 0), (4, 0),", "{(1, 0), (2, 0), (4, 0),")],
        "tests/test_image_header_contracts.py::test_the_native_table_is_every_png_mode_pillow_opens_as_rgb_rgba_l_p_or_la tests/test_image_header_contracts.py::test_a_png_mode_outside_the_native_table_is_left_to_pillow",
    ),
    (
        "lltd cwebp hands an APNG (acTL before IDAT) to cwebp, which encodes its first frame only",
        "lltd/codecs/image_header.py",
        [('if kind in (b"acTL", b"IEND")', 'if kind in (b"IEND",)')],
        "tests/test_image_header_contracts.py::test_an_apng_or_an_iend_before_idat_is_left_to_pillow",
    ),
    (
        "lltd cwebp hands an MPO to cwebp (its MPF index looked for in APP1, not APP2)",
        "lltd/codecs/image_header.py",
        [("if marker == 0xE2 and", "if marker == 0xE1 and")],
        "tests/test_image_header_contracts.py::test_an_mpf_index_in_app2_is_left_to_pillow_an_icc_profile_is_not",
    ),
    (
        "the progress bar redraws on a result exactly 0.1 s after the last draw",
        "lltd/batch/report.py",
        [("if now - last_refresh[0] > 0.1:", "if now - last_refresh[0] >= 0.1:")],
        "tests/test_batch_report_contracts.py::test_the_bar_is_redrawn_at_most_every_tenth_of_a_second",
    ),
    (
        "a failure line on a terminal is read as rich markup ([b]x[/b] in a name lost)",
        "lltd/batch/report.py",
        [("markup=False, highlight=False", "markup=True, highlight=False")],
        "tests/test_batch_report_contracts.py::test_a_failure_on_a_terminal_is_printed_verbatim_above_the_bar",
    ),
    (
        "the JSON totals count 1 byte for a file with no output",
        "lltd/batch/report.py",
        [('int(record["bytes_after"] or 0)', 'int(record["bytes_after"] or 1)')],
        "tests/test_batch_report_contracts.py::test_the_json_report_totals_count_the_bytes_of_its_records",
    ),
    # -- rows: wcfg --
    (
        "watch config: a folder whose OUT lies inside its IN skips the checks against the other folders (the bug found in issue 27)",
        "lltd/watch/config.py",
        [
            (
                "        # OUT inside IN is allowed (it is excluded from IN); IN inside OUT is not.\n        if out in inp.parents:",
                "        if inp in out.parents:\n            continue\n        if out in inp.parents:",
            )
        ],
        "tests/test_watch_config_contracts.py::test_an_output_inside_its_input_does_not_exempt_the_folder_from_the_other_checks",
    ),
    (
        "watch config: jobs = true is taken as 1 job (a TOML boolean is an int to isinstance)",
        "lltd/watch/config.py",
        [("if (isinstance(value, bool) and bool not in expected) or not", "if not")],
        "tests/test_watch_config_contracts.py::test_each_mistake_in_a_config_file_is_its_own_line",
    ),
    (
        "the watch daemon takes a state folder IN/.lltd that its group may write",
        "lltd/watch/state.py",
        [("st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)", "st.st_mode & stat.S_IWOTH")],
        "tests/test_watch_state_contracts.py::test_a_state_folder_others_may_write_is_refused",
    ),
    (
        "the watch daemon reads '..' as a folder name to write under (refused only as a link)",
        "lltd/watch/safedir.py",
        [('if part in ("", ".", "..") or', 'if part in ("", ".") or')],
        "tests/test_watch_safedir_contracts.py::test_a_component_that_is_not_one_plain_name_is_refused",
    ),
    (
        "the watch disposal moves a settled file whose ctime changed since it was opened (a chmod, a new hard link)",
        "lltd/watch/entry.py",
        [
            (
                "and Version.of(st) == self.input.version",
                "and Version.of(st)[:4] == self.input.version[:4]",
            )
        ],
        "tests/test_watch_entry_contracts.py::test_move_to_of_the_same_node_with_a_new_ctime_is_changed",
    ),
    (
        "the watch daemon's warnings reach the journal at info priority (<6>, not <4>)",
        "lltd/watch/log.py",
        [("self._write(sys.stderr, 4, message)", "self._write(sys.stderr, 6, message)")],
        "tests/test_watch_log_contracts.py::test_under_the_journal_each_line_carries_its_syslog_priority",
    ),
    (
        "a file dropped again under an earlier name is skipped as done (drop-folder jobs without force)",
        "lltd/watch/actions.py",
        [("force=True,", "force=False,")],
        "tests/test_watch_actions_contracts.py",
    ),
    (
        "watch --scheduler: a retried file gets the first attempt's cached result instead of a rerun",
        "lltd/watch/cluster.py",
        [("get_executor(pure=False)", "get_executor(pure=True)")],
        "tests/test_watch_cluster_contracts.py::test_a_submission_again_is_new_work_not_a_cached_result",
    ),
    # -- rows: wrun --
    (
        "the watch dispatcher keeps the slot of a file it could not start (the pool starves)",
        "lltd/watch/dispatch.py",
        [
            (
                '; trying again"\n                )\n                self.retry_later(key)\n                self.pool.unreserve()',
                '; trying again"\n                )\n                self.retry_later(key)',
            )
        ],
        "tests/test_watch_dispatch_contracts.py::test_the_loop_survives_a_failure_says_so_in_one_line_and_tries_again_later",
    ),
    (
        "the watch daemon's native observer watches IN's top folder only",
        "lltd/watch/discovery.py",
        [("str(folder.root), recursive=True,", "str(folder.root), recursive=False,")],
        "tests/test_watch_discovery_contracts.py::test_the_native_observer_watches_the_whole_tree",
    ),
    (
        "an earlier attempt is read through a link planted in IN/.lltd/done",
        "lltd/watch/worker.py",
        [
            (
                "st = os.stat(item.task.relative.name, dir_fd=fd, follow_symlinks=False)",
                "st = os.stat(item.task.relative.name, dir_fd=fd, follow_symlinks=True)",
            )
        ],
        "tests/test_watch_worker_contracts.py::test_a_link_in_done_is_no_earlier_attempt_whatever_it_points_to",
    ),
    (
        "a watch work item does not fsync unless told to",
        "lltd/watch/worker.py",
        [("    fsync: bool = True", "    fsync: bool = False")],
        "tests/test_watch_worker_contracts.py::test_a_work_item_syncs_by_default_and_knows_no_roots_version_or_identity",
    ),
    (
        "watch on file:// URLs moves inputs into a .lltd/done folder it never made",
        "lltd/watch/objects.py",
        [
            (
                '            fs.makedirs(destination.rpartition("/")[0], exist_ok=True)\n',
                "            pass\n",
            )
        ],
        "tests/test_watch_objects_contracts.py::test_an_object_is_taken_once_two_listings_agree",
    ),
    (
        "the watch pool throws a Dask cluster's executor away at every worker death",
        "lltd/watch/pool.py",
        [('getattr(self._executor, "_broken", False)', 'getattr(self._executor, "_broken", True)')],
        "tests/test_watch_pool_contracts.py::test_an_executor_that_cannot_say_it_is_broken_is_kept",
    ),
    (
        "an object watcher told to stop still processes the objects it had not started",
        "lltd/watch/objects.py",
        [
            (
                "pool.shutdown(wait=True, cancel_futures=True)",
                "pool.shutdown(wait=True, cancel_futures=False)",
            )
        ],
        "tests/test_watch_objects_contracts.py::test_stopping_waits_for_the_object_in_flight_and_drops_those_not_started",
    ),
    (
        "the watch daemon rescans at every turn of its loop once the first rescan is due",
        "lltd/watch/daemon.py",
        [("next_rescan = now + self.config.rescan", "next_rescan = now - self.config.rescan")],
        "tests/test_watch_daemon_contracts.py::test_periodic_rescans_come_exactly_every_rescan_seconds",
    ),
    (
        "the watch daemon keeps watching a drop folder replaced under it (a folder moved in)",
        "lltd/watch/daemon.py",
        [
            (
                "if not watching(observer) or not folder.still_there():",
                "if not watching(observer) and not folder.still_there():",
            )
        ],
        "tests/test_watch_daemon_contracts.py::test_a_folder_replaced_under_the_daemon_stops_it_with_status_1",
    ),
    # -- rows: batch --
    (
        "a batch's summary left unflushed (lost: lltd leaves a batch by os._exit)",
        "lltd/batch/command.py",
        [("print(summary(totals), flush=True)", "print(summary(totals), flush=False)")],
        "tests/test_command_contracts.py::test_a_full_disk_prints_the_stopped_line_and_the_summary_flushed",
    ),
    (
        "compress -lossless beside quality 100 handed to the encoder's options twice",
        "lltd/jobs/settings.py",
        [('cwebp.pop("lossless", False)', 'cwebp.get("lossless", False)')],
        "tests/test_job_settings_contracts.py::test_webp_converters_rule_quality_100_is_lossless_and_lossless_forces_it",
    ),
    (
        "a linked file ends its folder's listing (the images after it left out)",
        "lltd/batch/scan.py",
        [
            (
                "if os.path.islink(os.path.join(dirpath, name)):\n                continue",
                "if os.path.islink(os.path.join(dirpath, name)):\n                break",
            )
        ],
        "tests/test_scan_contracts.py::test_every_image_below_root_sorted_by_folder_and_name",
    ),
    (
        "--c inside the input enters a link to a folder and judges what lies beyond it",
        "lltd/batch/pipeline.py",
        [
            (
                'os.fwalk(".", dir_fd=folder.fd, follow_symlinks=False)',
                'os.fwalk(".", dir_fd=folder.fd, follow_symlinks=True)',
            )
        ],
        "tests/test_pipeline_contracts.py::test_clean_inside_the_input_removes_a_link_to_a_folder_without_entering_it",
    ),
    (
        "quarantine reads the input's record outside its best-effort block (found by its tests, fixed: an EIO escaped the job)",
        "lltd/jobs/common.py",
        [
            (
                "                stack.enter_context(contextlib.suppress(OSError, LltdError))\n"
                "                source = None\n"
                "                if command is not None:  # an input that cannot be read is not copied\n"
                "                    source = Source.of_input(opened, task.relative.as_posix())[0]\n",
                "                source = None\n"
                "                if command is not None:  # an input that cannot be read is not copied\n"
                "                    source = Source.of_input(opened, task.relative.as_posix())[0]\n"
                "                stack.enter_context(contextlib.suppress(OSError, LltdError))\n",
            )
        ],
        "tests/test_jobs_common_contracts.py::test_an_input_that_cannot_be_read_is_failed_with_the_reason_and_not_copied",
    ),
    (
        "a dry run stops listing at the first file that would fail",
        "lltd/batch/prepare.py",
        [
            (
                'print(f"would fail: {printable(source)}: {printable(problem)}")\n'
                '            counts["failed"] += 1\n'
                "            continue",
                'print(f"would fail: {printable(source)}: {printable(problem)}")\n'
                '            counts["failed"] += 1\n'
                "            break",
            )
        ],
        "tests/test_prepare_contracts.py::test_a_dry_run_says_what_would_happen_to_each_file",
    ),
    (
        "a process pool stopped by a full disk still runs every chunk queued behind the stop",
        "lltd/batch/engine.py",
        [
            (
                "pool.shutdown(wait=True, cancel_futures=True)",
                "pool.shutdown(wait=True, cancel_futures=False)",
            )
        ],
        "tests/test_engine_contracts.py::test_a_process_pool_stopped_early_starts_no_queued_chunk_and_leaves_no_worker",
    ),
    (
        "run_batch leaves its runner to the garbage collector (a raising callback leaves the workers taking files)",
        "lltd/batch/engine.py",
        [('close = getattr(results_iter, "close", None)', "close = None")],
        "tests/test_engine_contracts.py::test_a_callback_that_raises_stops_the_workers_before_the_caller_sees_it",
    ),
    # -- rows: lean --
    (
        "a storage library's exception raised through a subclass of another package is not named",
        "lltd/cli/failures.py",
        [("for cls in type(exc).__mro__:", "for cls in type(exc).__mro__[:1]:")],
        "tests/test_failures_contracts.py::test_an_exception_derived_from_a_librarys_class_is_the_librarys",
    ),
    (
        "compress --r with -o (no --c) is no longer refused",
        "lltd/cli/lean/compress_work.py",
        [
            (
                "if r.replace and (r.clean or r.output_directory is not None):",
                "if r.replace and r.clean:",
            )
        ],
        "tests/test_compress_work_contracts.py::test_replace_with_clean_or_an_output_folder_is_refused_before_anything",
    ),
    (
        "lltd cwebp ... -o - | head: cwebp inherits Python's ignored SIGPIPE",
        "lltd/cli/lean/cwebp_run.py",
        [("setsigdef=(SIGPIPE, SIGXFSZ)", "setsigdef=(SIGXFSZ,)")],
        "tests/test_cwebp_run_contracts.py::test_a_reader_of_dash_that_left_ends_cwebp_by_sigpipe_quietly",
    ),
    (
        "a temporary cwebp swapped for a dangling link is left behind",
        "lltd/cli/lean/cwebp_run.py",
        [("os.path.lexists(temp)", "os.path.exists(temp)")],
        "tests/test_cwebp_run_contracts.py::test_a_temporary_swapped_for_a_dangling_link_is_removed",
    ),
    (
        "compress --json . is a traceback again (Path('.') has no parts)",
        "lltd/cli/lean/compress_argv.py",
        [("if not path.parts or", "if not text or")],
        "tests/test_compress_argv_contracts.py::test_json_at_a_folder_or_a_url_is_left_to_typer",
    ),
    (
        "the lean compress parser takes -alpha_q=60 (only two-letter and -- names take =)",
        "lltd/cli/lean/compress_argv.py",
        [("len(name) == 2 and", "len(name) <= 8 and")],
        "tests/test_compress_argv_contracts.py::test_what_typer_must_judge_is_left_to_it",
    ),
    (
        "the lean cwebp path takes an image of exactly --max-pixels + 1",
        "lltd/cli/lean/cwebp_spawn.py",
        [("size[0] * size[1] <= max_pixels", "size[0] * size[1] <= max_pixels + 1")],
        "tests/test_cwebp_spawn_contracts.py::test_a_native_png_within_the_limit_is_taken",
    ),
    (
        "compress --max-pixels 0 read by the lean parser (its bound 1 lost)",
        "lltd/cli/lean/compress_request.py",
        [('"max_pixels": (1, None)', '"max_pixels": (0, None)')],
        "tests/test_compress_request_contracts.py::test_the_bounds_are_the_documented_ranges tests/test_compress_argv_contracts.py::test_open_ended_numbers_have_a_lower_bound_only",
    ),
    (
        "a pillow refusal forced by --backend pillow blames a missing cwebp",
        "lltd/cli/lean/cwebp_command.py",
        [
            (
                "fallback = own.backend is None and not own.auto_orient",
                "fallback = not own.auto_orient",
            )
        ],
        "tests/test_cwebp_command_contracts.py::test_pillow_refusals_say_why_pillow_was_chosen_only_when_it_was_a_fallback",
    ),
    (
        "plain `lltd cwebp` (no arguments) exits 0 after the help",
        "lltd/cli/lean/cwebp_command.py",
        [("return 0 if argv else 2", "return 0")],
        "tests/test_cwebp_command_contracts.py::test_each_way_to_ask_for_help_prints_that_help",
    ),
    (
        "a usage error names the option's longest spelling, not the one the user wrote",
        "lltd/cli/voice.py",
        [("        if name in names:\n            return name\n", "")],
        "tests/test_voice_contracts.py::test_the_spelling_named_is_the_first_the_user_wrote",
    ),
    (
        "Ctrl-C (typer.Abort) exits 1 instead of 130",
        "lltd/cli/voice.py",
        [("sys.exit(130)", "sys.exit(1)")],
        "tests/test_voice_contracts.py::test_abort_is_interrupted_and_status_130",
    ),
    # -- rows: cluster --
    (
        "a failing batch of two fails both files instead of retrying them one by one",
        "lltd/cluster/runner.py",
        [("if len(chunk) > 1:", "if len(chunk) > 2:")],
        "tests/test_cluster_runner_contracts.py::test_a_batch_of_two_whose_first_file_breaks_it_still_converts_the_second",
    ),
    (
        "a storage folder whose name extends another's (x2, x) counts as inside it",
        "lltd/cluster/storage.py",
        [('mine.startswith(theirs.rstrip("/") + "/")', 'mine.startswith(theirs.rstrip("/"))')],
        "tests/test_storage_contracts.py::test_relative_to_names_the_folder_inside_another_or_none",
    ),
    (
        "--r on a local storage deletes an original this process never fetched",
        "lltd/cluster/storage.py",
        [
            (
                "        if expected is None:\n            return",
                "        if expected is None and False:\n            return",
            )
        ],
        "tests/test_storage_contracts.py::test_delete_removes_a_local_file_only_as_this_process_fetched_it",
    ),
    (
        "--c on storage empties a whole bucket",
        "lltd/cluster/remote.py",
        [('if "/" not in destination.path().strip("/"):', 'if "/" not in destination.path():')],
        "tests/test_remote_contracts.py::test_refusals_of_a_storage_plan_each_one_line_naming_the_folder",
    ),
    (
        "a storage run's reason file names the worker's temporary folder, not the input's URL",
        "lltd/cluster/remote.py",
        [('if path.name.endswith(".error.txt"):', 'if path.name.endswith(".err.txt"):')],
        "tests/test_remote_contracts.py::test_publish_uploads_what_changed_then_deletes_what_went",
    ),
    (
        "-z 6 encodes at quality 70 where libwebp's preset says 75",
        "lltd/codecs/cwebp_options.py",
        [("    (4, 75),", "    (4, 70),")],
        "tests/test_cwebp_options_contracts.py::test_lossless_presets_are_libwebps_own_at_every_level",
    ),
    (
        "compress takes -d (cwebp's dump of one file's output)",
        "lltd/codecs/cwebp_options.py",
        [
            (
                '"dump the compressed output (PGM file)", REFUSED, batch=False)',
                '"dump the compressed output (PGM file)", REFUSED)',
            )
        ],
        "tests/test_cwebp_options_contracts.py::test_a_batch_refuses_what_reads_or_prints_about_one_file_and_takes_the_rest",
    ),
    (
        "importing lltd.codecs loads Pillow and both backends",
        "lltd/codecs/__init__.py",
        [("TYPE_CHECKING = False", "TYPE_CHECKING = True")],
        "tests/test_codecs_package_contracts.py::test_importing_the_package_and_its_option_table_loads_neither_pillow_nor_the_backends",
    ),
    # -- rows: evrep --
    (
        "an epsilon a hair (1.5e-6 of a level) below a level is read as that level",
        "lltd/evaluate/report.py",
        [("whole = int(levels + 1e-6)", "whole = int(levels + 2e-06)")],
        "tests/test_evaluate_report_contracts.py::test_epsilon_labels_whole_levels_and_rounding",
    ),
    (
        "images left: an attack a defense's count lacks shows XX-XX instead of a dash",
        "lltd/evaluate/report.py",
        [
            (
                '*(str(e["alone"].get(a, "-")) for a in attacks),',
                '*(str(e["alone"].get(a, "XX-XX")) for a in attacks),',
            )
        ],
        "tests/test_evaluate_report_contracts.py::test_images_left_dash_what_an_attack_alone_did_not_count",
    ),
    (
        "the sweep's JPEG rows are WebP bytes",
        "lltd/evaluate/sweep.py",
        [('{"webp": webp_bytes, "jpeg": jpeg_bytes}', '{"webp": webp_bytes, "jpeg": webp_bytes}')],
        "tests/test_sweep_contracts.py::test_sweep_rows_are_codec_quality_attack_with_accuracy_and_mean_bytes",
    ),
    (
        "--sweep-quality 10,20,...,95 accepted (the last value off the step not refused)",
        "lltd/evaluate/sweep.py",
        [("if qualities[-1] != last:", "if qualities[-1] > last:")],
        "tests/test_sweep_contracts.py::test_bad_arguments_are_one_line_usage_errors",
    ),
    (
        "match-size pairs WebP with the higher JPEG quality on a size tie",
        "lltd/evaluate/match.py",
        [
            (
                "key=lambda q: (abs(sizes[q] - target), q))",
                "key=lambda q: (abs(sizes[q] - target), -q))",
            )
        ],
        "tests/test_match_contracts.py::test_equal_size_jpeg_takes_the_lower_quality_on_a_tie",
    ),
    (
        "--match-size runs Square after BPDA-PGD (minutes for a result it does not read)",
        "lltd/evaluate/match.py",
        [
            (
                "model, defense, data.images, data.labels, settings, square=False",
                "model, defense, data.images, data.labels, settings, square=True",
            )
        ],
        "tests/test_match_contracts.py::test_adaptive_entries_are_bpda_pgd_through_the_codec_and_worst_is_both",
    ),
    (
        "the plots are written at matplotlib's default 100 dpi",
        "lltd/evaluate/plots.py",
        [('figure.savefig(buffer, format="png", dpi=90)', 'figure.savefig(buffer, format="png")')],
        "tests/test_plots_contracts.py::test_png_is_the_figure_at_90_dpi_and_the_figure_is_closed",
    ),
    (
        "the size plot labels each point with its WebP quality, not its own",
        "lltd/evaluate/plots.py",
        [("""axes.annotate(f"q{e['quality']}",""", """axes.annotate(f"q{e['webp_quality']}",""")],
        "tests/test_plots_contracts.py::test_size_plot_oblivious_dashed_per_codec_by_size_with_quality_labels",
    ),
    (
        "reference training skips the first crop of every epoch",
        "lltd/evaluate/reference.py",
        [
            (
                "for start in range(0, len(order), _BATCH):",
                "for start in range(1, len(order), _BATCH):",
            )
        ],
        "tests/test_reference_contracts.py::test_training_and_loading_on_a_shortened_recipe",
    ),
    (
        "the reference accuracy leaves the pixels on the CPU whatever the model's device",
        "lltd/evaluate/reference.py",
        [
            (
                "device = next(model.parameters()).device\n    predictions",
                "device = None\n    predictions",
            )
        ],
        "tests/test_reference_contracts.py::test_accuracy_moves_the_pixels_to_the_models_device",
    ),
    # -- rows: evrun --
    (
        "the Square attack on a randomised defense sees one fixed draw on every query",
        "lltd/evaluate/square.py",
        [("draws = np.random.default_rng(seed + 1)", "draws = None")],
        "tests/test_square_contracts.py::test_a_randomised_defense_draws_fresh_parameters_on_every_query",
    ),
    (
        "the Square attack stops two queries short of its budget",
        "lltd/evaluate/square.py",
        [("for query in range(1, queries + 1):", "for query in range(1, queries - 1):")],
        "tests/test_square_contracts.py::test_every_query_of_the_budget_is_tried_on_an_image_left_standing_and_a_tie_is_no_break",
    ),
    (
        "a labelled set made without skipped files has None for them (join fails)",
        "lltd/evaluate/data.py",
        [("skipped: list[str] = field(default_factory=list)", "skipped: list[str] = None")],
        "tests/test_evaluate_data_contracts.py::test_a_set_made_without_skips_names_or_sources_has_none_of_them",
    ),
    (
        "an evaluated defense can be changed after it is made (not frozen)",
        "lltd/evaluate/defenses.py",
        [("@dataclass(frozen=True)\nclass Defense:", "@dataclass(frozen=False)\nclass Defense:")],
        "tests/test_evaluate_defenses_contracts.py::test_parameters_steps_and_defenses_are_frozen_values",
    ),
    (
        "PGD's 8-bit ball takes a budget 1.5e-6 levels short of a whole level as that level",
        "lltd/evaluate/pgd.py",
        [("np.floor(epsilon * 255 + 1e-6)", "np.floor(epsilon * 255 + 2e-6)")],
        "tests/test_pgd_contracts.py::test_the_ball_is_the_whole_8_bit_levels_within_epsilon",
    ),
    (
        "evaluate's options default to an adaptive run of None, not False",
        "lltd/evaluate/run.py",
        [("    adaptive: bool = False", "    adaptive: bool = None")],
        "tests/test_evaluate_run_contracts.py::test_the_defaults_are_the_documented_ones",
    ),
    # -- rows: attack --
    (
        "a truncated adversarial label loses trailing X's too, not only dots and spaces",
        "lltd/attack/naming.py",
        [('.rstrip(" .")', '.rstrip("XX .XX")')],
        "tests/test_attack_naming_contracts.py::test_truncation_keeps_a_text_that_fits_and_never_splits_a_character",
    ),
    (
        "a label hint can be changed after it is made (and is no longer hashable)",
        "lltd/attack/labels.py",
        [("@dataclass(frozen=True)", "@dataclass(frozen=False)")],
        "tests/test_attack_labels_contracts.py::test_a_hint_is_a_frozen_value",
    ),
    (
        "an attack's catalog entry can be changed in place (steps of every later run with it)",
        "lltd/attack/catalog.py",
        [("@dataclass(frozen=True)", "@dataclass(frozen=False)")],
        "tests/test_attack_catalog_contracts.py::test_a_spec_is_a_frozen_value",
    ),
    (
        "a weights file that does not fit EfficientNet-Lite0 is blamed on another model's name",
        "lltd/models/imagenet.py",
        [
            (
                'load_weights_file(model, Path(weights), "efficientnet-lite0")',
                'load_weights_file(model, Path(weights), "XXefficientnet-lite0XX")',
            )
        ],
        "tests/test_models_imagenet_contracts.py::test_a_weights_file_is_loaded_quietly",
    ),
    (
        "WebPFlip on seeded settings without a generator gives every image of a batch the same draw",
        "lltd/torch.py",
        [
            (
                "    if rng is None and settings.randomised:\n        rng = settings.rng()",
                "    if rng is None and settings.randomised:\n        rng = None",
            )
        ],
        "tests/test_torch_contracts.py::test_seeded_settings_without_a_generator_draw_one_sequence_from_the_seed",
    ),
    (
        "a light install missing numpy is told that torch is missing",
        "lltd/torch.py",
        [('exc.name or "torch"', 'exc.name and "torch"')],
        "tests/test_torch_contracts.py::test_a_light_install_is_told_which_extra_brings_what_is_missing",
    ),
    (
        "a failed attack early in a batch leaves the batch's later images unattacked (continue -> break)",
        "lltd/attack/run.py",
        [
            (
                'did not change the prediction"\n            continue',
                'did not change the prediction"\n            break',
            )
        ],
        "tests/test_attack_run_contracts.py::test_batches_change_nothing_but_the_batching",
    ),
    (
        "a saved adversarial file is classified channel by channel instead of as one image",
        "lltd/attack/run.py",
        [("classifier.predict(pixels.unsqueeze(0))", "classifier.predict(pixels.unsqueeze(1))")],
        "tests/test_attack_run_contracts.py::test_a_saved_file_is_classified_as_one_image_not_three_channels",
    ),
    # -- rows: lead --
    (
        'lltd serve\'s own scrapes are counted as route "other"',
        "lltd/serve/app.py",
        [('"/readyz", "/metrics")', '"/readyz", "/metric")')],
        "tests/test_serve_app_contracts.py::test_the_metrics_route_is_counted_under_its_own_name",
    ),
    (
        'a request framed both ways keeps its app\'s Connection header beside "close"',
        "lltd/serve/app.py",
        [('if h[0].lower() != b"connection"]', 'if h[0] != b"connection"]')],
        "tests/test_serve_app_contracts.py::test_an_ambiguous_request_has_its_connection_header_replaced_by_close",
    ),
    (
        "a model server's answer of exactly 64 MiB is refused with 502",
        "lltd/serve/upstream.py",
        [("if size > MAX_ANSWER_BYTES:", "if size >= MAX_ANSWER_BYTES:")],
        "tests/test_serve_upstream_contracts.py::test_an_answer_of_exactly_the_limit_passes_one_byte_more_is_502",
    ),
    (
        "lltd serve --workers 2 runs one process without the supervisor",
        "lltd/serve/server.py",
        [("if settings.workers > 1:", "if settings.workers > 2:")],
        "tests/test_serve_server_contracts.py::test_two_workers_are_already_the_supervised_many",
    ),
    (
        "-q 0 is refused by the defense settings",
        "lltd/defense/settings.py",
        [("0 <= s.quality <= 100", "0 < s.quality <= 100")],
        "tests/test_defense_settings_contracts.py::test_a_quality_from_0_to_100_inclusive_is_taken",
    ),
    (
        "a log's progress line gives no time left while under one file a second",
        "lltd/common/progress.py",
        [("if rate > 0 and self.done < self.total", "if rate > 1 and self.done < self.total")],
        "tests/test_progress_contracts.py::test_a_rate_under_one_per_second_still_gives_the_time_left",
    ),
    (
        "LLTD_FS_SEAM is never read: the fault-injection seam is off in every process",
        "lltd/fs/seam.py",
        [("\n_loaded = False\n", "\n_loaded = True\n")],
        "tests/test_seam_contracts.py::test_a_fresh_process_reads_the_variable_at_its_first_step",
    ),
    (
        "an unrecorded file in a folder of our own taken for a leftover when the output overlaps the input (and -> or)",
        "lltd/batch/plan.py",
        [
            (
                "                inside is None\n                and not self.tree.overlaps",
                "                inside is None\n                or not self.tree.overlaps",
            )
        ],
        "tests/test_plan_contracts.py::test_a_containing_output_whose_way_to_the_input_is_unknown_maps_no_name_onto_an_input",
    ),
    (
        "an Inception-v3 state dict file loaded after drawing a random initialisation it overwrites",
        "lltd/models/loading.py",
        [('            "init_weights": False,', '            "init_weights": True,')],
        "tests/test_models_loading_contracts.py::test_a_state_dict_file_skips_the_random_initialisation_it_would_overwrite",
    ),
    (
        "cwebp backend: -z drops the -preset and -lossless before it (+= -> =)",
        "lltd/codecs/cwebp.py",
        [
            (
                'argv += ["-z", str(options.lossless_preset)]',
                'argv = ["-z", str(options.lossless_preset)]',
            )
        ],
        "tests/test_cwebp_codec_contracts.py::test_a_lossless_preset_replaces_quality_and_method",
    ),
    (
        "cluster runner: a run leaves its journal entry on the scheduler",
        "lltd/cluster/runner.py",
        [("self.client.set_metadata([JOURNAL, run_id], None)", "pass")],
        "tests/test_cluster_runner_contracts.py::test_the_journal_is_emptied_as_each_batch_ends",
    ),
    (
        "publish hard-links what a link swapped in for the temporary points to (follow_symlinks=True)",
        "lltd/fs/tree.py",
        [
            (
                "dst_dir_fd=self.fd, follow_symlinks=False)",
                "dst_dir_fd=self.fd, follow_symlinks=True)",
            )
        ],
        "tests/test_tree_contracts.py::test_publish_never_follows_a_link_swapped_in_for_the_temporary",
    ),
    (
        "a temporary opened without O_EXCL and O_NOFOLLOW (| -> &)",
        "lltd/fs/tree.py",
        [("os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC", "os.O_EXCL & os.O_NOFOLLOW | os.O_CLOEXEC")],
        "tests/test_tree_contracts.py::test_a_temporary_name_taken_by_a_link_is_never_opened_and_gives_up_after_100_tries",
    ),
]


def main() -> int:
    wanted = set(sys.argv[1:])
    missed = 0
    with tempfile.TemporaryDirectory(prefix="lltd-planted-") as scratch:
        work = Path(scratch) / REPO.name
        work.mkdir()
        scratch_copy(work)
        # The tests find the seed data at ../shared, beside the checkout.
        if (REPO.parent / "shared").exists():
            (work.parent / "shared").symlink_to((REPO.parent / "shared").resolve())
        env = {**os.environ, "PYTHONPATH": str(work)}
        for number, (what, file, changes, tests) in enumerate(ROWS):
            if wanted and str(number) not in wanted:
                continue
            path = work / file
            original = path.read_text()
            planted = original
            for old, new in changes:
                if old not in planted:
                    raise SystemExit(f"row {number}: {old!r} is not in {file} any more")
                planted = planted.replace(old, new)
            path.write_text(planted)
            try:
                result = subprocess.run(
                    [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                     "-p", "no:randomly", *tests.split()],
                    cwd=work, env=env, capture_output=True, text=True, check=False,
                )  # fmt: skip
            finally:
                path.write_text(original)
            # Any failure counts, a test process killed by a signal included; 5: none collected.
            caught = result.returncode not in (0, 5)
            missed += not caught
            last = (result.stdout.strip().splitlines() or ["?"])[-1]
            print(
                f"{number:2d} {'caught' if caught else 'NOT CAUGHT'}: {what} ({last})", flush=True
            )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
