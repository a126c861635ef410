"""JSON pointers (RFC 6901): escaped when built, unescaped when followed."""

from schemas.json_pointer import nested_beyond, pointer_to, unescape, value_at


def test_pointers_escape_tilde_and_slash():
    assert pointer_to("/properties", "a/b", "~c", 0) == "/properties/a~1b/~0c/0"
    assert unescape("a~1b") == "a/b" and unescape("~01") == "~1"


def test_a_pointer_names_its_value_or_nothing():
    document = {"properties": {"a/b": {"items": [{"type": "string"}]}}}
    assert value_at(document, "") is document
    assert value_at(document, pointer_to("/properties", "a/b", "items", 0)) == {"type": "string"}
    for nothing in ("/properties/a", "/properties/a~1b/items/1", "/properties/a~1b/items/-", "/properties/a~1b/items/0/type/x",
                    "/properties/~x"):
        assert value_at(document, nothing) is None, nothing


def test_the_first_container_nested_too_deep_is_named():
    document = {"a": [{"b": {}}]}  # four containers, the root one included
    assert nested_beyond(document, 4) is None
    assert nested_beyond(document, 3) == "/a/0/b"
