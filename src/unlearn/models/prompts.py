"""Prompt templates for zero-shot heads, keyed by the set a dataset names (spec 2.2).

``cifar`` is the 18-template set of the task-vectors line of work, used for CIFAR-10/100;
``number`` is the single MNIST template. Datasets without a set of their own use ``photo``.
"""

from __future__ import annotations

from unlearn.errors import bad_value

TEMPLATES: dict[str, tuple[str, ...]] = {
    "number": ('a photo of the number: "{}".',),
    "photo": ("a photo of a {}.",),
    # Fashion-MNIST: product photos of one garment on a plain background, in grayscale.
    "fashion": (
        "a photo of a {}.",
        "a black and white photo of a {}.",
        "a low resolution photo of a {}.",
        "a product photo of a {}.",
        "a photo of a {}, a type of clothing.",
    ),
    "cifar": tuple(
        f"{form.format(article=article)}"
        for article in ("a", "the")
        for form in (
            "a photo of {article} {{}}.",
            "a blurry photo of {article} {{}}.",
            "a black and white photo of {article} {{}}.",
            "a low contrast photo of {article} {{}}.",
            "a high contrast photo of {article} {{}}.",
            "a bad photo of {article} {{}}.",
            "a good photo of {article} {{}}.",
            "a photo of {article} small {{}}.",
            "a photo of {article} big {{}}.",
        )
    ),
}


def templates(name: str) -> tuple[str, ...]:
    if name not in TEMPLATES:
        raise bad_value("prompt template set", name, sorted(TEMPLATES))
    return TEMPLATES[name]
