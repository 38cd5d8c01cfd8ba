import pytest
from data_helpers import make_dataset

from physai.core.errors import DatasetError
from physai.data.tools import merge


def test_merge_refuses_different_features_naming_them(tmp_path):
    make_dataset(tmp_path / "a", [4], video=False, state_dim=3)
    make_dataset(tmp_path / "b", [4], video=False, state_dim=5)
    with pytest.raises(DatasetError) as exc:
        merge([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    msg = str(exc.value)
    assert "observation.state" in msg and "(3,)" in msg and "(5,)" in msg and "MultiDataset" in msg
