"""SIGTERM (kill, timeout, a container stopping) cleans up like Ctrl-C: no half-written output is left."""

import signal
import subprocess
import sys
import time

from wux.export.manifest import MANIFEST_NAME

ATTEMPTS = 3  # an export can finish in the instant between its partial folder being seen and the signal landing


def export_signalled(tiny_checkpoint, folder):
    """(returncode, stderr) of an export sent SIGTERM once its partial folder exists in `folder`."""
    proc = subprocess.Popen([sys.executable, "-m", "wux.cli", "export", str(tiny_checkpoint), "--to", "onnx",
                             "--to", "torchscript", "-o", str(folder / "e")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob(".e.*.partial")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(folder.glob(".e.*.partial")), "the export never started writing"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_sigterm_mid_export_leaves_no_partial_folder_and_exits_as_interrupted(tiny_checkpoint, tmp_path):
    for attempt in range(ATTEMPTS):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        code, err = export_signalled(tiny_checkpoint, folder)
        if not (folder / "e" / MANIFEST_NAME).exists():
            break
        # the export completed before the signal took effect (the process then ended 0, or by the signal once
        # its handler was restored): whole, nothing half-written; signal another one
        assert [p.name for p in folder.iterdir()] == ["e"], (code, err)
    else:
        raise AssertionError(f"SIGTERM interrupted none of {ATTEMPTS} exports")
    assert err.strip().splitlines()[-1] == "error: interrupted", (code, err)
    assert list(folder.iterdir()) == []  # what matters: nothing half-written is left
    # 130 every time run alone; once in about ten runs beside other tests the process, having printed the line
    # above and cleaned up, ended by SIGINT instead (cause not found; see the closing note of 2026-12-02)
    assert code in (130, -signal.SIGINT), err
