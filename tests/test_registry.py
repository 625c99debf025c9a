"""A config name leads to its code (timm tests its model registry the same way).

For every registry, the yaml files of its config group and the registered names are the same set;
every method and condensation yaml composes and builds the class registered under its name, from
the module of that name (``conf/method/<x>.yaml`` -> ``unlearn/methods/<x>.py`` -> ``METHODS["x"]``;
``conf/condensation/<x>.yaml`` -> ``unlearn/condense/<x>.py`` -> ``CONDENSERS["x"]``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CONF, compose_cfg
from unlearn.app.build import build
from unlearn.condense import CONDENSERS
from unlearn.catalogue import list_archs, list_condensers, list_datasets, list_methods
from unlearn.registry import METHODS


def yaml_names(group: str) -> set[str]:
    return {p.stem for p in (CONF / group).glob("*.yaml")}


@pytest.mark.parametrize("group, names", [
    ("method", list_methods), ("arch", list_archs), ("dataset", list_datasets),
    ("condensation", list_condensers),
])
def test_yaml_names_are_the_registry_names(group, names):
    assert yaml_names(group) == set(names())


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
