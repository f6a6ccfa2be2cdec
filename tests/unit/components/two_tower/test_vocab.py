import json

import numpy as np

from components.two_tower.vocab import UNKNOWN, Vocabulary, lookup_bags


def test_known_values_get_rows_from_one_and_unknown_maps_to_zero():
    vocab = Vocabulary(np.array([30, 10, 20, 10], dtype=np.int64))
    assert len(vocab) == 4  # three values + the unknown row
    assert vocab.lookup([10, 20, 30]).tolist() == [1, 2, 3]
    assert vocab.lookup(np.array([99, 20], dtype=np.int64)).tolist() == [UNKNOWN, 2]
    assert vocab.lookup([]).tolist() == []
    assert vocab.value_of(3) == 30 and vocab.value_of(UNKNOWN) is None


def test_strings_and_missing_values():
    vocab = Vocabulary(["Comedy", "Action", None])
    assert vocab.values == ["Action", "Comedy"]
    assert vocab.lookup(["Comedy", "Horror", None, float("nan")]).tolist() == [2, 0, 0, 0]


def test_empty_vocabulary_maps_everything_to_unknown():
    assert Vocabulary([]).lookup([1, 2]).tolist() == [0, 0]


def test_json_round_trip_keeps_rows():
    vocab = Vocabulary(np.array([7, 3, 5], dtype=np.int64))
    restored = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab
    assert restored.lookup([3, 5, 7, 8]).tolist() == vocab.lookup([3, 5, 7, 8]).tolist()


def test_lookup_bags_drops_unknown_and_keeps_order():
    vocab = Vocabulary([1, 2, 3])
    bags = lookup_bags(vocab, [[3, 9, 1], [], [9]])
    assert [b.tolist() for b in bags] == [[3, 1], [], []]


def test_an_ordered_vocabulary_keeps_the_given_order_through_json():
    # user ids are keyed hashes: rows follow the order given (by the users' events), not the ids
    vocab = Vocabulary([907, 12, 907, 455], ordered=True)
    assert vocab.values == [907, 12, 455]
    assert vocab.lookup([12, 907, 455, 3]).tolist() == [2, 1, 3, 0]
    restored = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab and restored.lookup([455]).tolist() == [3]
    assert Vocabulary([907, 12, 455]).values == [12, 455, 907]  # the default sorts
