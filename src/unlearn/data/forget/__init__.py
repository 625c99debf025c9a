"""Forget requests, one module per ``forget=`` option family; the classes are re-exported here."""

from unlearn.data.forget.base import ForgetRequest
from unlearn.data.forget.class_ import ClassForget
from unlearn.data.forget.none import NoForget
from unlearn.data.forget.random import RandomForget

__all__ = ["ClassForget", "ForgetRequest", "NoForget", "RandomForget"]
