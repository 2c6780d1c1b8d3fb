"""SIGTERM (kill, timeout, a container stopping) cleans up like Ctrl-C: no half-written output is left."""

import signal
import subprocess
import sys
import time


def test_sigterm_mid_export_leaves_no_partial_folder_and_exits_as_interrupted(tiny_checkpoint, tmp_path):
    out = tmp_path / "e"
    proc = subprocess.Popen([sys.executable, "-m", "wux.cli", "export", str(tiny_checkpoint), "--to", "onnx",
                             "--to", "torchscript", "-o", str(out)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".e.*.partial")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.glob(".e.*.partial")), "the export never started writing"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert list(tmp_path.iterdir()) == []  # what matters: nothing half-written is left
    # 130 every time run alone; once in about ten runs beside other tests the process, having printed the line
    # above and cleaned up, ended by SIGINT instead (cause not found; see the closing note of 2026-12-02)
    assert proc.returncode in (130, -signal.SIGINT), err
