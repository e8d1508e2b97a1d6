"""Item text building, tokenising and the vocabulary shared by the content models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.models.text import PAD, UNK, Vocabulary, item_text, label_tokens, tokenize


def test_item_text_joins_title_and_description_and_reads_labels():
    items = pd.DataFrame({"title": ["Trail running shoes"], "description": ["Grip on wet rock."],
                          "category": ["Outdoor"], "tags": ["trail-running|Gear| gear |"]})
    content = item_text(items)
    assert content.text == ["Trail running shoes. Grip on wet rock."]
    assert content.labels == [["category=outdoor", "tag=trail-running", "tag=gear"]]


def test_missing_fields_read_as_empty_never_as_nan():
    items = pd.DataFrame({
        "title": ["Only a title", None, np.nan, pd.NA],
        "description": [np.nan, "Only a description", None, pd.NA],
        "tags": [None, "a|b", np.nan, ""],
    })  # no category column at all
    content = item_text(items)
    assert content.text == ["Only a title", "Only a description", "", ""]
    assert content.labels == [[], ["tag=a", "tag=b"], [], []]
    assert content.has_content().tolist() == [True, True, False, False]
    assert not any("nan" in t.lower() for t in content.text)


def test_missing_table_gives_empty_items_and_row_count_is_checked():
    content = item_text(None, 3)
    assert content.text == ["", "", ""] and content.labels == [[], [], []]
    assert not content.has_content().any()
    with pytest.raises(ValueError, match="rows"):
        item_text(pd.DataFrame({"title": ["a"]}), 2)


def test_item_text_reads_dataset_item_features_with_unlisted_items():
    from recsys.data.dataset import Dataset

    events = pd.DataFrame({"user_id": ["u1", "u1"], "item_id": ["i1", "ghost"]})
    items = pd.DataFrame({"item_id": ["i1", "new"], "title": ["Sourdough bread", "Kayak trip"],
                          "category": ["Cooking", "Outdoor"]})
    data = Dataset.from_tables(events, items)
    content = item_text(data.item_features, data.n_items)
    by_id = dict(zip(data.items.ids, content.text))
    assert by_id == {"i1": "Sourdough bread", "ghost": "", "new": "Kayak trip"}


def test_tokenize_lowercases_drops_stop_words_and_keeps_inner_hyphens():
    assert tokenize("The Trail-Running shoes, for YOU & me: 10k!") == ["trail-running", "shoes", "10k"]
    assert tokenize("") == [] and tokenize("a I") == []


def test_label_tokens_accepts_lists_and_deduplicates():
    assert label_tokens("Home & Garden", ["DIY", "diy", ""]) == ["category=home-&-garden", "tag=diy"]
    assert label_tokens(None, None) == []


def test_vocabulary_orders_by_document_frequency_and_encodes_with_padding():
    docs = [["run", "trail", "run"], ["trail", "shoe"], ["trail", "run"], ["rare"]]
    vocab = Vocabulary.build(docs, min_count=2)
    assert vocab.tokens.tolist() == ["<pad>", "<unk>", "trail", "run"]  # "run" counted once per doc
    encoded = vocab.encode([["run", "shoe", "trail"], []], max_length=2)
    assert encoded.tolist() == [[3, UNK], [PAD, PAD]]
    assert vocab.encode([["shoe", "run"]], 3, drop_unknown=True).tolist() == [[3, PAD, PAD]]
    assert Vocabulary.build(docs, max_size=3).tokens.tolist() == ["<pad>", "<unk>", "trail"]


def test_vocabulary_round_trips_through_a_string_array(tmp_path):
    vocab = Vocabulary.build([["café", "naïve"], ["café"]])
    np.savez(tmp_path / "v.npz", tokens=vocab.tokens)
    with np.load(tmp_path / "v.npz", allow_pickle=False) as npz:
        again = Vocabulary(npz["tokens"])
    assert again.tokens.tolist() == vocab.tokens.tolist() and again.index("naïve") == vocab.index("naïve")
    with pytest.raises(ValueError, match="reserved"):
        Vocabulary(["a", "b"])
