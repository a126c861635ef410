"""The one keyword table and walk over a schema's direct subschemas."""

from schemas.subschemas import subschemas, with_subschemas


def test_each_kind_of_keyword_yields_its_subschemas_with_their_pointers():
    assert list(subschemas("items", {"type": "string"}, "/x/items")) == [("/x/items", {"type": "string"})]
    assert list(subschemas("items", [{"type": "string"}, True], "/items")) == [("/items/0", {"type": "string"}),
                                                                             ("/items/1", True)]
    assert list(subschemas("anyOf", [{}, False], "/anyOf")) == [("/anyOf/0", {}), ("/anyOf/1", False)]
    assert list(subschemas("properties", {"a/b": {}, "~c": True}, "/properties")) == [("/properties/a~1b", {}),
                                                                                    ("/properties/~0c", True)]


def test_data_and_unknown_keywords_hold_no_subschemas():
    assert list(subschemas("enum", [{"a": 1}], "/enum")) == []
    assert list(subschemas("dependencies", {"a": ["b"], "c": {"required": ["d"]}}, "/dependencies")) == [
        ("/dependencies/c", {"required": ["d"]})]
    assert list(subschemas("anyOf", {"not": "a list"}, "/anyOf")) == []


def test_rewriting_replaces_each_subschema_in_a_new_container():
    value = {"a": {"type": "string"}, "b": True}
    seen = []
    rewritten = with_subschemas("properties", value, "/properties", lambda schema, at: seen.append(at) or {"at": at})
    assert rewritten == {"a": {"at": "/properties/a"}, "b": {"at": "/properties/b"}}
    assert seen == ["/properties/a", "/properties/b"], "in order"
    assert value == {"a": {"type": "string"}, "b": True}, "the original is untouched"
    assert with_subschemas("not", {"type": "null"}, "/not", lambda schema, at: at) == "/not"
    assert with_subschemas("prefixItems", [1, {}], "/p", lambda schema, at: at) == [1, "/p/1"]
    assert with_subschemas("const", {"a": {}}, "/const", lambda schema, at: at) == {"a": {}}
