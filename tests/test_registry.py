"""A config name leads to its code (timm tests its model registry the same way).

For every registry, the yaml files of its config group and the registered names are the same set;
each yaml's ``_target_`` is the object registered under its name, and that object lives in the module
of that name (``conf/method/<x>.yaml`` -> ``unlearn/methods/<x>.py`` -> ``METHODS["x"]``), or in a
module that declares ``x`` among its ``OPTIONS`` because its options are one class with a flag.
Every method, condensation, corruption and forget yaml composes and builds (arch and dataset yamls
build in test_archs.py and the source tests, which have the shapes and files they need).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf

from conftest import CONF, compose_cfg
from unlearn.app.build import build
from unlearn.catalogue import (
    list_archs, list_condensers, list_corruptions, list_datasets, list_forgets, list_methods,
)
from unlearn.condense import CONDENSERS
from unlearn.registry import ARCHS, CORRUPTIONS, DATASETS, FORGETS, METHODS

REGISTRIES = {"method": METHODS, "arch": ARCHS, "dataset": DATASETS, "corruption": CORRUPTIONS,
              "forget": FORGETS, "condensation": CONDENSERS}
LISTS = {"method": list_methods, "arch": list_archs, "dataset": list_datasets, "corruption": list_corruptions,
         "forget": list_forgets, "condensation": list_condensers}
# Where a group's yaml keeps the target of what it registers.
TARGET = {"method": "method", "arch": "arch.net", "dataset": "dataset.source", "corruption": "corruption",
          "forget": "forget", "condensation": "condensation"}


def yaml_names(group: str) -> set[str]:
    return {p.stem for p in (CONF / group).glob("*.yaml")}


@pytest.mark.parametrize("group", sorted(REGISTRIES))
def test_yaml_names_are_the_registry_names(group):
    assert yaml_names(group) == set(LISTS[group]())


OPTIONS = [(group, name) for group in sorted(REGISTRIES) for name in sorted(yaml_names(group))]


@pytest.mark.parametrize("group, name", OPTIONS)
def test_config_name_leads_to_the_module_of_that_name(tmp_path: Path, group: str, name: str):
    registered = REGISTRIES[group].get(name)
    cfg = compose_cfg("correct", tmp_path, [f"{group}={name}", *([] if group == "forget" else ["forget=random10"])])
    node = OmegaConf.select(cfg, TARGET[group])
    assert get_object(node._target_) is registered
    module = sys.modules[registered.__module__]
    stem = module.__name__.rpartition(".")[2].rstrip("_")  # class_.py: PEP 8's escape of a keyword
    if stem != name:
        assert name in getattr(module, "OPTIONS", ()), f"{name} is registered in {module.__name__}"
        assert "one class with a flag" in module.__doc__ or "one builder with" in module.__doc__


@pytest.mark.parametrize("name", sorted(yaml_names("corruption")))
def test_corruption_yaml_builds_its_registered_class(tmp_path: Path, name: str):
    cfg = compose_cfg("correct", tmp_path, [f"corruption={name}"])
    assert type(build("corruption", cfg.corruption)) is CORRUPTIONS.get(name)


@pytest.mark.parametrize("name", sorted(yaml_names("forget")))
def test_forget_yaml_builds_its_registered_class(tmp_path: Path, name: str):
    cfg = compose_cfg("correct", tmp_path, [f"forget={name}", "method=aamu_cf"])
    assert type(build("forget", cfg.forget)) is FORGETS.get(name)


@pytest.mark.parametrize("name", sorted(yaml_names("method")))
def test_method_yaml_builds_the_class_of_its_own_module(tmp_path: Path, name: str):
    cfg = compose_cfg("correct", tmp_path, [f"method={name}", "forget=random10"])
    method = build("method", cfg.method)
    assert type(method) is METHODS.get(name) and method.name == name
    assert type(method).__module__ == f"unlearn.methods.{name}"


@pytest.mark.parametrize("name", sorted(yaml_names("condensation")))
def test_condensation_yaml_builds_its_registered_class(tmp_path: Path, name: str):
    cfg = compose_cfg("correct", tmp_path, [f"condensation={name}", "method=aamu_cf", "forget=random10", "ipc=10"])
    condenser = build("condensation", cfg.condensation)
    assert type(condenser) is CONDENSERS.get(name)
    assert type(condenser).__module__ == f"unlearn.condense.{name}"
