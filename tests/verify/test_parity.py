import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.conftest import make_checkpoint, source
from tests.test_cli import assert_one_line_error, invoke
from wux.export.manifest import read_manifest
from wux.fsutil import sha256_file
from wux.model.config import TINY
from wux.verify.compare import compare, error_stats, judge, passing_tolerance
from wux.verify.parity import parity_cases, verify_folder
from wux.verify.signals import SIGNALS, make_signal
from wux.verify.tolerance import DEFAULT_TOLERANCES, Tolerance


def test_faithful_artifacts_pass_with_numbers(exported):
    folder, ckpt = exported
    report = verify_folder(folder, show_progress=False)
    assert report.passed and report.reference_matches_manifest
    by_key = {a.artifact: a for a in report.artifacts}
    assert by_key["onnx-fp32"].worst_max_abs_err < 1e-5
    assert by_key["torchscript-fp32"].worst_max_abs_err < 1e-5
    assert by_key["onnx-fp32"].worst_si_snr_db > 80
    assert 30 < by_key["onnx-fp16"].worst_si_snr_db < 100  # FP16 is close but measurably not exact
    assert by_key["onnx-fp16"].worst_max_abs_err > 1e-6
    n = len(parity_cases(read_manifest(folder).artifacts[0].profiles["samples"], 3))
    assert all(a.cases == n for a in report.artifacts)
    assert {r.case.signal for r in report.results} == set(SIGNALS)


def rewrite_onnx(folder, edit):
    """Change folder/model.onnx with `edit(proto)` and record the new hash, as a buggy exporter would."""
    path = folder / "model.onnx"
    proto = onnx.load(str(path))
    edit(proto)
    onnx.save(proto, str(path))
    manifest = json.loads((folder / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        if a["file"] == "model.onnx":
            a["sha256"] = sha256_file(path)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def perturb_onnx(folder, scale=1.01):
    """Scale the largest weight tensor by 1 %."""

    def scale_largest(proto):
        init = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * scale, init.name))

    rewrite_onnx(folder, scale_largest)


def test_perturbed_weights_fail(exported, tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(exported[0], folder)
    perturb_onnx(folder)
    report = verify_folder(folder, show_progress=False)
    assert not report.passed
    bad = next(a for a in report.artifacts if a.artifact == "onnx-fp32")
    good = next(a for a in report.artifacts if a.artifact == "torchscript-fp32")
    assert not bad.passed and good.passed
    assert bad.failed_cases > 0 and ("max abs err" in bad.first_failure or "SI-SNR" in bad.first_failure)
    assert bad.worst_max_abs_err > 1e-4 or bad.worst_si_snr_db < 60
    # the report names the case behind its lowest SI-SNR
    behind = [r for r in report.results if r.artifact == "onnx-fp32" and r.case.label() == bad.worst_si_snr_case]
    assert len(behind) == 1 and behind[0].stats.si_snr_db == bad.worst_si_snr_db
    # the tolerance that would have passed is the measured worst case
    assert bad.would_pass_with.max_abs == pytest.approx(bad.worst_max_abs_err)
    assert bad.would_pass_with.min_si_snr_db == pytest.approx(bad.worst_si_snr_db)


def test_other_checkpoint_fails(exported, tmp_path):
    folder, _ = exported
    other = make_checkpoint(tmp_path / "other.wux.pt", TINY, seed=99)
    report = verify_folder(folder, source(other), show_progress=False)
    assert not report.passed and not report.reference_matches_manifest
    assert all(not a.passed for a in report.artifacts)


def test_changed_file_is_caught_by_hash(exported, tmp_path):
    folder = tmp_path / "changed"
    shutil.copytree(exported[0], folder)
    with open(folder / "model.pt", "ab") as f:
        f.write(b"\0")
    report = verify_folder(folder, show_progress=False)
    ts = next(a for a in report.artifacts if a.artifact == "torchscript-fp32")
    # the file is named, not the first case it never ran
    assert not ts.passed and ts.first_failure == "model.pt: sha256 differs from the manifest"
    (folder / "model.onnx").unlink()
    report = verify_folder(folder, show_progress=False)
    onnx = next(a for a in report.artifacts if a.artifact == "onnx-fp32")
    assert not onnx.passed and onnx.first_failure == "model.onnx: file missing"
    (folder / "model.onnx").mkdir()
    report = verify_folder(folder, show_progress=False)
    onnx = next(a for a in report.artifacts if a.artifact == "onnx-fp32")
    assert onnx.first_failure == "model.onnx: a folder, not the file the export wrote"
    assert_one_line_error(invoke("bench", folder, "--formats", "onnx", "--seconds", "0.01"),
                          "model.onnx: a folder, not the file the export wrote")


def test_tolerance_overrides(exported):
    folder, _ = exported
    strict = verify_folder(folder, max_abs=1e-12, min_si_snr_db=200, show_progress=False)
    assert not strict.passed


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--atol", "nan", "--atol must be a finite bound of 0 or more, got nan"),  # NaN compared passes everything
    ("--atol", "inf", "--atol must be a finite bound of 0 or more, got inf"),
    ("--atol", "-1", "--atol must be a finite bound of 0 or more, got -1.0"),
    ("--min-si-snr", "nan", "--min-si-snr must be a finite number of dB, got nan"),
])
def test_tolerance_overrides_the_gate_cannot_compare_with_are_refused(exported, option, value, said):
    from tests.test_cli import assert_one_line_error

    assert_one_line_error(invoke("verify", exported[0], option, value), said)


def test_error_stats_and_judge():
    ref = np.sin(np.linspace(0, 20, 1000))[None]
    out = ref + 1e-3
    stats = error_stats(out, ref)
    assert stats.max_abs_err == pytest.approx(1e-3)
    assert stats.rel_l2_err == pytest.approx(1e-3 / np.sqrt(np.mean(ref**2)), rel=1e-3)
    assert stats.si_snr_db == 200.0  # a constant offset is removed by SI-SNR's mean subtraction: identical
    assert error_stats(ref, ref).si_snr_db == 200.0
    assert judge(stats, DEFAULT_TOLERANCES["fp32"]) == ["max abs err 0.001 > 0.0001"]
    assert judge(stats, Tolerance(2e-3, 60)) == []
    assert compare(out, ref, Tolerance(2e-3, 60)).passed
    flat = error_stats(np.full((1, 100), 0.5 + 1e-6), np.full((1, 100), 0.5))
    assert flat.si_snr_db is None  # flat reference: SI-SNR undefined, not a fake number
    noisy = error_stats(ref + 0.01 * np.random.default_rng(0).standard_normal(ref.shape), ref)
    assert 30 < noisy.si_snr_db < 40
    assert passing_tolerance([stats, noisy]) == Tolerance(noisy.max_abs_err, noisy.si_snr_db)


def test_signals_are_what_they_say():
    speech = make_signal("speech", 2, 4000)
    assert speech.shape == (2, 4000) and not np.array_equal(speech[0], speech[1])
    assert np.all(make_signal("silence", 1, 100) == 0)
    full = make_signal("full_scale", 1, 16000)
    assert 0.99 < np.abs(full).max() < 1.0
    imp = make_signal("impulses", 1, 16000)
    assert np.count_nonzero(imp) >= 1 and np.abs(imp).max() == pytest.approx(0.95)


def test_cases_cover_min_opt_max_odd_and_batches():
    cases = parity_cases({"min": 512, "opt": 2048, "max": 8192}, 3)
    shapes = {(c.batch, c.samples) for c in cases}
    assert {(1, 512), (1, 2048), (1, 8192), (3, 2048)} <= shapes
    assert any(n % 2 for _, n in shapes) and any(b == 3 and n % 2 for b, n in shapes)
    assert len(cases) == len(shapes) * len(SIGNALS)



def test_the_judge_fails_a_wrong_length_and_non_finite_output():
    ref = np.sin(np.linspace(0, 20, 1000))[None]
    longer = compare(np.pad(ref, ((0, 0), (0, 213))), ref, DEFAULT_TOLERANCES["fp32"])
    assert not longer.passed and longer.stats is None
    assert longer.reasons == ("output shape (1, 1213) differs from the reference's (1, 1000)",)
    nan = ref.copy()
    nan[0, 10] = np.nan
    verdict = compare(nan, ref, DEFAULT_TOLERANCES["fp32"])
    # NaN compares false with everything: the judge must fail it explicitly, whatever the other numbers say
    assert not verdict.passed and verdict.reasons[0] == "1 NaN/Inf output sample(s)"
    assert verdict.stats.nonfinite == 1 and verdict.stats.max_abs_err == 0.0
    inf = compare(np.full((1, 1000), np.inf), ref, Tolerance(None, None))
    assert not inf.passed and inf.stats.nonfinite == 1000 and inf.stats.si_snr_db is None
    assert passing_tolerance([verdict.stats]) is None  # no tolerance passes NaN


def test_an_artifact_answering_nan_fails_verify(exported, tmp_path):
    """A graph that turns every output into NaN (0 * Inf) fails, with no tolerance that would pass."""
    folder = tmp_path / "nan"
    shutil.copytree(exported[0], folder)

    def add_nan(proto):
        out = proto.graph.output[0].name
        last = next(n for n in proto.graph.node if out in n.output)
        last.output[list(last.output).index(out)] = "pre_nan"
        inf = onnx.helper.make_tensor("wux_inf", onnx.TensorProto.FLOAT, [], [np.inf])
        zero = onnx.helper.make_tensor("wux_zero", onnx.TensorProto.FLOAT, [], [0.0])
        proto.graph.initializer.extend([inf, zero])
        proto.graph.node.extend([onnx.helper.make_node("Mul", ["wux_inf", "wux_zero"], ["wux_nan"]),
                                 onnx.helper.make_node("Add", ["pre_nan", "wux_nan"], [out])])

    rewrite_onnx(folder, add_nan)
    report = verify_folder(folder, show_progress=False)
    bad = next(a for a in report.artifacts if a.artifact == "onnx-fp32")
    assert not bad.passed and bad.failed_cases == bad.cases
    assert "NaN/Inf" in bad.first_failure and bad.would_pass_with is None
    result = invoke("verify", folder)
    assert result.exit_code == 1 and "no tolerance would pass it" in result.output


def test_eval_data_for_an_export_without_int8_is_refused(exported, tmp_path):
    # it was silently unused: the user believed their speech had judged the export
    assert_one_line_error(invoke("verify", exported[0], "--eval-data", tmp_path / "nonexist"),
                          str(exported[0]), "--eval-data does not apply without an INT8 artifact",
                          "this export has none")
