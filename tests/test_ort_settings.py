"""onnxruntime settings: one dataclass, read back the same from a manifest, Triton parameters and sessions."""

import pytest

from wux.errors import ConfigError
from wux.ort_settings import OrtOptions


def test_settings_round_trip_through_triton_parameters_and_the_manifest():
    tuned = OrtOptions(intra_op_threads=2, inter_op_threads=2, execution_mode="parallel",
                       graph_optimization="extended", spinning=True)
    params = tuned.to_params()
    assert all(isinstance(v, str) for v in params.values()) and params["ort_spinning"] == "1"
    assert OrtOptions.from_params(params) == tuned
    assert OrtOptions.from_dict(tuned.to_dict()) == tuned
    assert OrtOptions.from_params({}) == OrtOptions()  # absent parameters keep the defaults (spinning off)
    assert tuned.with_threads(0) == tuned and tuned.with_threads(1).intra_op_threads == 1


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="execution_mode"):
        OrtOptions(execution_mode="fast")
    with pytest.raises(ConfigError, match="not a whole number"):
        OrtOptions.from_params({"ort_intra_op_threads": "two"})
    with pytest.raises(ConfigError, match="negative"):
        OrtOptions(intra_op_threads=-1)


def test_a_session_gets_exactly_these_settings():
    import onnxruntime as ort

    options = OrtOptions(intra_op_threads=1, execution_mode="parallel", graph_optimization="basic").session_options(ort)
    assert options.intra_op_num_threads == 1 and options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
