"""``popular.json``: one definition, written and read back unchanged."""

from __future__ import annotations

import pytest

from contracts.artifacts import ArtifactError
from contracts.popular import Popular


def test_popular_items_round_trip(tmp_path):
    popular = Popular([("a", 5.0), ("b", 1.5)], {"c1": [("a", 5.0)], "c2": []})
    popular.write(tmp_path / "popular.json")
    assert Popular.read(tmp_path / "popular.json") == popular


@pytest.mark.parametrize("text", ["[]", '{"overall": [{"item": "a"}], "by_category": {}}', "{"])
def test_a_file_of_another_shape_is_refused_naming_it(tmp_path, text):
    (tmp_path / "popular.json").write_text(text)
    with pytest.raises(ArtifactError, match=r"popular\.json"):
        Popular.read(tmp_path / "popular.json")
