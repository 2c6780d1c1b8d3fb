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
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert list(tmp_path.iterdir()) == []
