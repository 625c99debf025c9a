"""The metrics every correction method reports, so rows of one table are comparable.

A method hands over its corrected model (and the corrupted and oracle models it started
from); the keys are the same for CUTS, SAP, Potion, CF and the oracle row: ``clean_acc``
(test), ``noisy_train_acc`` (the corrupted training samples against their true labels),
for label noise ``noisy_train_fit`` (the same samples against the wrong labels they were
trained with: how much of the noise the model memorised),
for poison the attack success rates ``asr`` (poisoned training samples), ``proxy_asr`` and
``test_asr`` (triggered test images), each also as ``corrupted_*``, plus ``recovery`` and
the poison utility score ``pus`` = clean_acc x (1 - asr) (spec 7).
"""

from __future__ import annotations

from torch import nn

from unlearn.context import RunContext
from unlearn.eval.evalset import accuracy, recovery

POISON_SPLITS = (("train_corrupted", "asr"), ("proxy_triggered", "proxy_asr"), ("test_triggered", "test_asr"))


def model_metrics(ctx: RunContext, net: nn.Module) -> dict[str, float]:
    """One model's numbers on the splits its corruption makes meaningful."""
    kind = ctx.corruption.kind
    m = {"clean_acc": accuracy(net, ctx.evalset("test"))}
    if kind not in ("real", "none"):  # which training labels are wrong is known only for synthetic corruption
        m["noisy_train_acc"] = accuracy(net, ctx.evalset("train_corrupted"), "y_true")
        if kind != "poison":  # how much of the label noise the model reproduces (for poison: asr)
            m["noisy_train_fit"] = accuracy(net, ctx.evalset("train_corrupted"), "y")
    if kind == "poison":
        for split, key in POISON_SPLITS:
            m[key] = accuracy(net, ctx.evalset(split))
    return m


def outcome(corrected: dict[str, float], corrupted: dict[str, float],
            oracle_clean_acc: float | None) -> dict[str, float]:
    """A table row: the corrected model's metrics, the corrupted model's as ``corrupted_*``,
    recovery against the oracle (when there is one) and, for poison, the utility scores."""
    m = {**corrected, **{f"corrupted_{k}": v for k, v in corrupted.items()}}
    if oracle_clean_acc is not None:
        m["oracle_clean_acc"] = oracle_clean_acc
        m["recovery"] = recovery(m["clean_acc"], m["corrupted_clean_acc"], oracle_clean_acc)
    if "asr" in m:
        # Recovery means little when the backdoor barely costs clean accuracy (spec 7).
        m["pus"] = m["clean_acc"] * (1.0 - m["asr"])
        m["corrupted_pus"] = m["corrupted_clean_acc"] * (1.0 - m["corrupted_asr"])
    return m


def stage_row(ctx: RunContext, stage: str) -> dict[str, float]:
    """The row of a method whose corrected model is a trained stage (CF, the oracle)."""
    corrupted = model_metrics(ctx, ctx.net_with(ctx.runner.get("corrupted").state))
    corrected = model_metrics(ctx, ctx.net_with(ctx.runner.get(stage).state))
    oracle = None
    if ctx.corruption.has_clean_train:
        oracle = corrected["clean_acc"] if stage == "oracle" else accuracy(
            ctx.net_with(ctx.runner.get("oracle").state), ctx.evalset("test"))
    return outcome(corrected, corrupted, oracle)
