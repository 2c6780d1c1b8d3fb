"""A manifest that is not what wux wrote is one line naming the file, whichever command reads it."""

import json
import shutil

import pytest

from tests.test_cli import assert_one_line_error, invoke
from wux.errors import WuxError
from wux.export.manifest import read_manifest


def damaged(exported, tmp_path, change) -> str:
    folder = tmp_path / "build"
    shutil.copytree(exported[0], folder)
    path = folder / "manifest.json"
    path.write_text(change(path.read_text()))
    return folder


def drop(key):
    def change(text):
        data = json.loads(text)
        data.pop(key)
        return json.dumps(data)

    return change


def contract_field(text):
    data = json.loads(text)
    data["contract"]["colour"] = "blue"
    return json.dumps(data)


def spec_not_a_record(text):
    return json.dumps({**json.loads(text), "spec": "x"})


def bogus_format(text):
    data = json.loads(text)
    data["artifacts"][0]["format"] = "bogus"
    return json.dumps(data)


def version(text):
    return json.dumps({**json.loads(text), "manifest_version": 1})


@pytest.mark.parametrize("change, fragment", [
    (lambda text: text[: len(text) // 2], "corrupt manifest (not JSON"),
    (drop("artifacts"), "corrupt manifest"),
    (drop("contract"), "corrupt manifest"),
    (contract_field, "unknown audio contract field(s) colour"),
    (version, "unknown manifest version 1"),
    (spec_not_a_record, "corrupt manifest (TypeError: string indices must be integers"),
    (bogus_format, "artifact bogus-fp32 is not one this wux exports (torchscript-fp32,"),
], ids=["truncated", "no artifacts", "no contract", "unknown field", "old version", "spec not a record",
        "unknown format"])
def test_a_damaged_manifest_is_one_line(exported, tmp_path, change, fragment):
    folder = damaged(exported, tmp_path, change)
    with pytest.raises(WuxError) as err:
        read_manifest(folder)
    assert fragment in str(err.value)
    for command in (["verify", folder], ["bench", folder, "--seconds", "0.01"], ["triton", folder, "--repo",
                                                                                  tmp_path / "repo"]):
        assert_one_line_error(invoke(*command), str(folder / "manifest.json"), fragment)
    assert not (tmp_path / "repo").exists()
