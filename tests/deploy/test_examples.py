"""k8s/examples/: the examples the docs point to (outside the kustomize bases) are Kubernetes
objects that pass the schemas, strictly, like the overlays' objects."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

EXAMPLES = sorted(Path(__file__).resolve().parents[2].joinpath("k8s", "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_a_valid_kubernetes_object(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
