"""Asymmetric-noise class maps per dataset (spec 1.5)."""

from __future__ import annotations

# Digits datasets share MNIST's confusions: 7->1, 2->7, 5<->6, 3->8.
_DIGIT_MAP = {7: 1, 2: 7, 5: 6, 6: 5, 3: 8}

# CIFAR-100 superclass -> sorted fine classes (the standard fine->coarse mapping).
CIFAR100_SUPERCLASSES: list[list[int]] = [
    [4, 30, 55, 72, 95], [1, 32, 67, 73, 91], [54, 62, 70, 82, 92], [9, 10, 16, 28, 61],
    [0, 51, 53, 57, 83], [22, 39, 40, 86, 87], [5, 20, 25, 84, 94], [6, 7, 14, 18, 24],
    [3, 42, 43, 88, 97], [12, 17, 37, 68, 76], [23, 33, 49, 60, 71], [15, 19, 21, 31, 38],
    [34, 63, 64, 66, 75], [26, 45, 77, 79, 99], [2, 11, 35, 46, 98], [27, 29, 44, 78, 93],
    [36, 50, 65, 74, 80], [47, 52, 56, 59, 96], [8, 13, 48, 58, 90], [41, 69, 81, 85, 89],
]


def _cifar100_map() -> dict[int, int]:
    # Each fine class goes to the next one of its own superclass, cyclically.
    return {g[i]: g[(i + 1) % len(g)] for g in CIFAR100_SUPERCLASSES for i in range(len(g))}


ASYMMETRIC_MAPS: dict[str, dict[int, int]] = {
    "digits": _DIGIT_MAP,
    "mnist": _DIGIT_MAP,
    "svhn": _DIGIT_MAP,
    # Zhang & Sabuncu 2018, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
    # Noisy Labels" (NeurIPS; arXiv 1805.07836), section 4: boot -> sneaker, sneaker -> sandal,
    # pullover -> shirt, coat <-> dress.
    "fashion_mnist": {9: 7, 7: 5, 2: 6, 4: 3, 3: 4},
    "cifar10": {9: 1, 2: 0, 3: 5, 5: 3, 4: 7},
    "cinic10": {9: 1, 2: 0, 3: 5, 5: 3, 4: 7},  # CIFAR-10's classes, in the same order
    "cifar100": _cifar100_map(),
    "clothing1m": {2: 4, 4: 2, 9: 6, 12: 11, 8: 12, 13: 12, 6: 8, 10: 2},
}
