"""The oracle row: the model retrained on the clean part of the training set.

Its ``recovery`` is 1 by definition; the row exists so a table's oracle line is produced by
the same command, keys and evaluation as every method it bounds.
"""

from __future__ import annotations

from unlearn.context import RunContext
from unlearn.errors import ConfigError
from unlearn.correction.outcome import stage_row
from unlearn.method import Method, MethodResult
from unlearn.registry import METHODS


@METHODS.register("oracle")
class Oracle(Method):
    name = "oracle"

    def stages(self, ctx: RunContext) -> list[tuple[str, int | None]]:
        if not ctx.corruption.has_clean_train:
            raise ConfigError(f"method=oracle needs a clean training set; {ctx.dm.name} with "
                              f"corruption={ctx.corruption.kind} has none")
        return [("corrupted", None), ("oracle", None)]

    def run(self, ctx: RunContext) -> MethodResult:
        self.stages(ctx)
        m = stage_row(ctx, "oracle")
        m["seconds_oracle"] = ctx.runner.get("oracle").seconds
        return MethodResult(m)
