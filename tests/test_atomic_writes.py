"""Every file a rerun trusts is written under a temporary name and renamed: a job killed in the middle
of the write leaves no file under the real name, so the rerun redoes the work instead of reading half
a file as a finished result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch

from unlearn import checkpoints, runs, taskvec
from unlearn.condense import store
from unlearn.condense.base import CondensedSet
from unlearn.models.mlp import mlp


class Killed(BaseException):
    """Stands in for SIGKILL arriving while the bytes go out (not an Exception: nothing may catch it)."""


def _half_then_die(real):
    def write(data, path, *args, **kwargs):
        real(data, path, *args, **kwargs)
        blob = Path(path).read_bytes()
        Path(path).write_bytes(blob[: len(blob) // 2])  # half of the file reached the disk
        raise Killed

    return write


def _text_half_then_die(self, text, *args, **kwargs):
    Path.write_bytes(self, text.encode()[: len(text) // 2])
    raise Killed


def _model(path: Path) -> None:
    checkpoints.save_model(path / "model.safetensors", mlp((1, 4, 4), 3, hidden=(8,)))


def _vector(path: Path) -> None:
    taskvec.save_vector(path / "tau.safetensors", {"w": torch.ones(3)}, arch="mlp")


def _condensed(path: Path) -> None:
    cset = CondensedSet(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([0, 1, 2]),
                        torch.tensor([False, False]), {"method": "random"})
    store.save(cset, path)


WRITERS = {  # what is written, and the file whose existence a rerun takes as "done"
    "stage weights": (_model, "model.safetensors", "safetensors"),
    "task vector": (_vector, "tau.safetensors", "safetensors"),
    "condensed set": (_condensed, store.TENSORS, "safetensors"),
    "condensed set metadata": (_condensed, store.META, "text"),
    "stage.json / metrics": (lambda p: runs.write_json(p / "stage.json", {"seconds": 1.0}), "stage.json", "text"),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_write_killed_half_way_leaves_nothing_under_the_real_name(tmp_path: Path, monkeypatch, name: str):
    write, final, kind = WRITERS[name]
    if kind == "safetensors":
        for module in (safetensors.torch, checkpoints, store):
            monkeypatch.setattr(module, "save_file", _half_then_die(safetensors.torch.save_file), raising=False)
    else:
        monkeypatch.setattr(Path, "write_text", _text_half_then_die)
    with pytest.raises(Killed):
        write(tmp_path)
    assert not (tmp_path / final).exists()
    monkeypatch.undo()
    write(tmp_path)  # the rerun writes it whole
    if final.endswith(".json"):
        json.loads((tmp_path / final).read_text())
    else:
        safetensors.torch.load_file(str(tmp_path / final))
