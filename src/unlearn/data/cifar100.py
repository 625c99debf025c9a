"""``dataset=cifar100``: CIFAR-10's reader with CIFAR-100's files and fine labels."""

from __future__ import annotations

from unlearn.data.cifar10 import CIFAR10
from unlearn.registry import DATASETS


@DATASETS.register("cifar100")
class CIFAR100(CIFAR10):
    """CIFAR-100 (fine labels) via ``torchvision.datasets.CIFAR100``: ``train``, ``test`` and ``meta``
    extracted to ``data_dir/cifar-100-python/``; same md5 and class-name checks as CIFAR-10.
    """

    name = "cifar100"
    # Fine label names in label order, as in the archive's ``meta`` (alphabetical).
    class_names = (
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    )  # fmt: skip
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    trigger_margin = (10, 6)

    @staticmethod
    def _torchvision_class() -> type:
        from torchvision.datasets import CIFAR100 as TV

        return TV
