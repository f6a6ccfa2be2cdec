import numpy as np
import pytest

from components.two_tower.batching import (
    item_features,
    item_features_padded,
    jagged_from_padded,
    user_features,
    user_features_padded,
)
from components.two_tower.model import (
    HISTORY_FEATURE,
    ITEM_CATEGORIES_FEATURE,
    ITEM_ID_FEATURE,
    USER_ID_FEATURE,
)


def test_user_features_shapes():
    kjt = user_features([4, 0, 2], [[7, 8], [], [9]])
    assert kjt.keys() == [USER_ID_FEATURE, HISTORY_FEATURE]
    assert kjt.stride() == 3
    features = kjt.to_dict()
    assert features[USER_ID_FEATURE].lengths().tolist() == [1, 1, 1]
    assert features[USER_ID_FEATURE].values().tolist() == [4, 0, 2]
    assert features[HISTORY_FEATURE].lengths().tolist() == [2, 0, 1]
    assert features[HISTORY_FEATURE].values().tolist() == [7, 8, 9]


def test_item_features_shapes():
    kjt = item_features(np.array([1, 2]), [[3], [1, 2, 3]])
    assert kjt.keys() == [ITEM_ID_FEATURE, ITEM_CATEGORIES_FEATURE]
    features = kjt.to_dict()
    assert features[ITEM_CATEGORIES_FEATURE].lengths().tolist() == [1, 3]
    assert features[ITEM_CATEGORIES_FEATURE].values().tolist() == [3, 1, 2, 3]


def test_all_bags_empty():
    features = user_features([1, 2], [[], []]).to_dict()
    assert features[HISTORY_FEATURE].lengths().tolist() == [0, 0]
    assert features[HISTORY_FEATURE].values().numel() == 0


def test_padded_builders_match_list_builders():
    matrix = np.array([[5, 6, 0], [0, 0, 0], [7, 8, 9]])
    lengths = np.array([2, 0, 3])
    padded = user_features_padded(np.array([1, 2, 3]), matrix, lengths).to_dict()
    listed = user_features([1, 2, 3], [[5, 6], [], [7, 8, 9]]).to_dict()
    for key in (USER_ID_FEATURE, HISTORY_FEATURE):
        assert padded[key].values().tolist() == listed[key].values().tolist()
        assert padded[key].lengths().tolist() == listed[key].lengths().tolist()
    items = item_features_padded(np.array([1]), np.array([[4, 0]]), np.array([1])).to_dict()
    assert items[ITEM_CATEGORIES_FEATURE].values().tolist() == [4]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="batch size"):
        user_features([1, 2], [[3]])
    with pytest.raises(ValueError, match="negative"):
        item_features([-1], [[1]])
    with pytest.raises(ValueError, match="lengths"):
        jagged_from_padded(np.zeros((2, 2), np.int64), np.array([3, 0]))
