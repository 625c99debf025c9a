"""Task-vector arithmetic (spec 4.1-4.3): which keys a vector covers, apply, mean, norms, random control."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from unlearn.taskvec import apply, batchnorm_prefixes, cosine, mean_vector, norm, random_like, task_vector, vector_keys


def net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 3, 3),  # 0
        nn.BatchNorm2d(3),  # 1
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(12, 4),  # 4
        nn.LayerNorm(4),  # 5
        nn.Linear(4, 2),  # 6
    )


def perturbed(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state dict with every float entry (BN stats included) and the BN counter changed."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in model.state_dict().items():
        if torch.is_floating_point(v):
            out[k] = v + torch.randn(v.shape, generator=gen)
        else:
            out[k] = v + 7
    return out


COVERED = ["0.weight", "0.bias", "4.weight", "4.bias", "5.weight", "5.bias", "6.weight", "6.bias"]
BN_KEYS = ["1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]


@pytest.fixture
def pair() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    a = net().state_dict()
    return a, perturbed(net(), 1)


def test_state_dict_layout_is_what_the_tests_assume() -> None:
    assert sorted(net().state_dict()) == sorted(COVERED + BN_KEYS)


def test_batchnorm_excluded_layernorm_included(pair) -> None:  # noqa: ANN001
    a, b = pair
    assert batchnorm_prefixes(a) == {"1"}
    assert vector_keys(a) == COVERED
    tv = task_vector(a, b)
    assert list(tv) == COVERED
    for k in BN_KEYS:
        assert k not in tv
    for k in COVERED:
        assert torch.equal(tv[k], b[k] - a[k])
        assert tv[k].dtype == torch.float32 and tv[k].device.type == "cpu"


def test_nested_batchnorm_prefix_and_similar_names() -> None:
    # "block.bn" is BN; "block.bnx" merely shares the prefix string and must stay in.
    model = nn.Module()
    model.block = nn.Module()
    model.block.bn = nn.BatchNorm1d(2)
    model.block.bnx = nn.Linear(2, 2)
    state = model.state_dict()
    assert batchnorm_prefixes(state) == {"block.bn"}
    assert vector_keys(state) == ["block.bnx.weight", "block.bnx.bias"]


def test_non_float_tensors_skipped() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "idx": torch.tensor([1, 2]), "mask": torch.tensor([True, False]),
         "h": torch.tensor([1.0], dtype=torch.float16)}
    b = {"w": torch.tensor([4.0, 0.0]), "idx": torch.tensor([5, 5]), "mask": torch.tensor([False, False]),
         "h": torch.tensor([3.0], dtype=torch.float16)}
    tv = task_vector(a, b)
    assert sorted(tv) == ["h", "w"]
    assert tv["w"].tolist() == [3.0, -2.0]
    assert tv["h"].dtype == torch.float32 and tv["h"].tolist() == [2.0]


def test_exclude_prefixes(pair) -> None:  # noqa: ANN001
    a, b = pair
    tv = task_vector(a, b, exclude=("6.", "0.bias"))
    assert list(tv) == ["0.weight", "4.weight", "4.bias", "5.weight", "5.bias"]
    assert vector_keys(a, exclude=["4"]) == ["0.weight", "0.bias", "5.weight", "5.bias", "6.weight", "6.bias"]


def test_keys_missing_from_finetuned_are_skipped(pair) -> None:  # noqa: ANN001
    a, b = pair
    b = {k: v for k, v in b.items() if k != "6.bias"}
    assert "6.bias" not in task_vector(a, b)


def test_apply_is_reference_plus_alpha_tau(pair) -> None:  # noqa: ANN001
    a, b = pair
    tv = task_vector(a, b)
    for alpha in (-1.35, 0.0, 0.5):
        out = apply(a, tv, alpha)
        assert sorted(out) == sorted(a)
        for k in COVERED:
            torch.testing.assert_close(out[k], a[k] + alpha * (b[k] - a[k]), rtol=0, atol=1e-6)
        for k in BN_KEYS:
            assert torch.equal(out[k], a[k]) and out[k].dtype == a[k].dtype
    # Neither the reference nor its untouched entries are shared with the result.
    snapshot = {k: v.clone() for k, v in a.items()}
    out = apply(a, tv, -2.0)
    for v in out.values():
        if torch.is_floating_point(v):
            v.add_(1.0)
    for k in a:
        assert torch.equal(a[k], snapshot[k])


def test_apply_alpha_one_reproduces_finetuned_on_covered_keys(pair) -> None:  # noqa: ANN001
    a, b = pair
    out = apply(a, task_vector(a, b), 1.0)
    for k in COVERED:
        torch.testing.assert_close(out[k], b[k], rtol=0, atol=1e-6)
    for k in BN_KEYS:
        assert torch.equal(out[k], a[k])
        assert not torch.equal(out[k], b[k])
    # Loads back into the model (BN stays at the reference values).
    model = net()
    model.load_state_dict(out)
    assert torch.equal(model[1].running_var, a["1.running_var"])


def test_apply_keeps_dtype_of_half_reference() -> None:
    ref = {"w": torch.tensor([1.0, 2.0], dtype=torch.float16)}
    out = apply(ref, {"w": torch.tensor([0.5, -1.0])}, -2.0)
    assert out["w"].dtype == torch.float16 and out["w"].tolist() == [0.0, 4.0]


def test_mean_vector_is_mean_not_sum() -> None:
    v1 = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([[3.0]])}
    v2 = {"a": torch.tensor([3.0, -2.0]), "b": torch.tensor([[6.0]])}
    v3 = {"a": torch.tensor([5.0, 3.0]), "b": torch.tensor([[0.0]])}
    m = mean_vector([v1, v2, v3])
    assert m["a"].tolist() == [3.0, 1.0] and m["b"].tolist() == [[3.0]]
    single = mean_vector([v1])
    assert torch.equal(single["a"], v1["a"])
    with pytest.raises(ValueError):
        mean_vector([])


def test_norm_and_cosine_hand_values() -> None:
    a = {"x": torch.tensor([3.0, 0.0]), "y": torch.tensor([[4.0]])}
    b = {"x": torch.tensor([0.0, 2.0]), "y": torch.tensor([[0.0]])}
    c = {"x": torch.tensor([1.0, 1.0]), "y": torch.tensor([[1.0]]), "only_c": torch.tensor([100.0])}
    assert norm(a) == pytest.approx(5.0, abs=1e-12)
    assert norm(c) == pytest.approx(math.sqrt(10003.0), abs=1e-9)
    assert cosine(a, b) == pytest.approx(0.0, abs=1e-12)
    assert cosine(a, a) == pytest.approx(1.0, abs=1e-12)
    assert cosine(a, {k: -v for k, v in a.items()}) == pytest.approx(-1.0, abs=1e-12)
    # Only shared keys count: a.c = 3 + 4 = 7, |a| = 5, |c over x,y| = sqrt(3).
    assert cosine(a, c) == pytest.approx(7.0 / (5.0 * math.sqrt(3.0)), abs=1e-12)
    assert cosine(a, {k: 2.5 * v for k, v in a.items()}) == pytest.approx(1.0, abs=1e-12)


def test_random_like_is_seeded_positive_and_norm_matched(pair) -> None:  # noqa: ANN001
    a, b = pair
    tv = task_vector(a, b)
    r1, r2, r3 = random_like(tv, seed=20), random_like(tv, seed=20), random_like(tv, seed=21)
    assert list(r1) == list(tv)
    for k in tv:
        assert r1[k].shape == tv[k].shape
        assert torch.equal(r1[k], r2[k])
        assert not torch.equal(r1[k], r3[k])
        assert bool((r1[k] >= 0).all())
        assert float(r1[k].norm()) == pytest.approx(float(tv[k].norm()), rel=1e-5)
    assert norm(r1) == pytest.approx(norm(tv), rel=1e-5)
    # Uniform positive noise is nowhere near the direction of tau: its cosine is well below 1.
    assert cosine(r1, tv) < 0.9


def test_random_like_does_not_touch_global_rng(pair) -> None:  # noqa: ANN001
    tv = task_vector(*pair)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    random_like(tv, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_random_like_zero_key_stays_zero() -> None:
    r = random_like({"z": torch.zeros(4), "w": torch.tensor([3.0, 4.0])}, seed=0)
    assert r["z"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert float(r["w"].norm()) == pytest.approx(5.0, rel=1e-6)


# --- a task vector as an artifact (tau.safetensors, method.tau=<file>) -------------------------


def _vector(model: nn.Module) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    return task_vector(state, perturbed(model, 3))


def test_saved_vector_round_trips_with_its_provenance(tmp_path) -> None:  # noqa: ANN001
    from unlearn.taskvec import load_vector, save_vector

    model = net()
    tau = _vector(model)
    save_vector(tmp_path / "tau.safetensors", tau, "toy", {"proxy_seeds": [12, 10], "corrupted": "abc"})
    expected = {k: model.state_dict()[k] for k in vector_keys(model.state_dict())}
    loaded, meta = load_vector(tmp_path / "tau.safetensors", "toy", expected)
    assert loaded.keys() == tau.keys() and all(torch.equal(loaded[k], tau[k]) for k in tau)
    assert meta["proxy_seeds"] == [12, 10] and meta["corrupted"] == "abc" and meta["arch"] == "toy"
    assert not (tmp_path / "tau.tmp").exists()  # written to a temporary name, then renamed


@pytest.mark.parametrize("case", ["missing", "text", "checkpoint", "arch", "width", "truncated"])
def test_a_vector_that_does_not_fit_is_refused_in_one_line(tmp_path, case) -> None:  # noqa: ANN001
    from safetensors.torch import save_file

    from unlearn.errors import ConfigError
    from unlearn.taskvec import load_vector, save_vector

    model = net()
    expected = {k: model.state_dict()[k] for k in vector_keys(model.state_dict())}
    path = tmp_path / "tau.safetensors"
    if case == "text":
        path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    elif case == "checkpoint":  # model weights, not a task vector
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata={"arch": "toy"})
    elif case == "arch":
        save_vector(path, _vector(model), "small_cnn")
    elif case == "width":
        wider = _vector(model)
        wider["6.weight"] = torch.zeros(3, 4)
        save_vector(path, wider, "toy")
    elif case == "truncated":
        save_vector(path, _vector(model), "toy")
        path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ConfigError) as err:
        load_vector(path, "toy", expected)
    message = str(err.value)
    assert "\n" not in message and "method.tau" in message
    assert {"missing": "a tau.safetensors file", "text": "not a safetensors", "checkpoint": "no task vector",
            "arch": "arch 'small_cnn'", "width": "6.weight", "truncated": "not a safetensors"}[case] in message
