"""CF ("catastrophic forgetting", spec 6.1): fine-tune the corrupted model on the clean held-out set.

It sees the same held-out images CUTS does, but with their clean labels, which CUTS never
reads; the row shows what those labels alone buy. For asymmetric noise only the source-class
images are used (spec 1.7); the recipe is ``stages.cf``.
"""

from __future__ import annotations

from unlearn.context import RunContext
from unlearn.correction.outcome import stage_row
from unlearn.method import Method, MethodResult
from unlearn.registry import METHODS


@METHODS.register("cf")
class CF(Method):
    name = "cf"
    uses_heldout = True

    def stages(self, ctx: RunContext) -> list[tuple[str, int | None]]:
        oracle = [("oracle", None)] if ctx.corruption.has_clean_train else []
        return [("corrupted", None), *oracle, ("cf", None)]

    def run(self, ctx: RunContext) -> MethodResult:
        m = stage_row(ctx, "cf")
        m["seconds_cf"] = ctx.runner.get("cf").seconds
        return MethodResult(m)
