"""The compact listing of a tool's parameters: what each form keeps and leaves out, and
that the fit keeps the most the room allows, outermost descriptions last to go."""

import json

from schemas.compact_listing import CompactListing, fit

PARAMETERS = {
    "type": "object",
    "title": "Order",
    "description": "An order.",
    "properties": {
        "id": {"type": "string", "description": "The order's id.", "pattern": "^[0-9]+$", "examples": ["1042"]},
        "customer": {"$ref": "#/$defs/Person", "description": "Who ordered."},
        "items": {"type": "array", "maxItems": 50, "items": {"$ref": "#/$defs/Item"}},
        "description": {"type": "string", "default": "none", "x-vendor": {"ui": "textarea"}},
    },
    "required": ["id", "customer"],
    "additionalProperties": False,
    "$comment": "from the shop's API",
    "$defs": {
        "Person": {"type": "object", "title": "Person", "description": "A person.",
                   "properties": {"name": {"type": "string", "minLength": 1, "description": "Full name."}}},
        "Item": {"type": "object", "description": "One line of the order.",
                 "properties": {"sku": {"type": "string"}, "kind": {"enum": ["a", "b"], "description": "Its kind."}}},
    },
}


def size(form) -> int:
    return len(json.dumps(form, separators=(",", ":")))


def test_descriptions_are_ordered_outermost_first_entering_a_definition_where_it_is_referenced():
    # by depth in the value: the record (0); its id and customer, who is a Person (1); the customer's name and an
    # item, an Item (2); an item's kind (3)
    assert CompactListing(PARAMETERS).description_pointers == [
        "", "/properties/id", "/properties/customer", "/$defs/Person", "/$defs/Person/properties/name", "/$defs/Item",
        "/$defs/Item/properties/kind"]


def test_the_first_form_keeps_structure_assertions_and_descriptions_and_drops_the_other_annotations():
    form = CompactListing(PARAMETERS).form(descriptions=7, assertions=True)
    text = json.dumps(form)
    for gone in ("title", "examples", "default", "$comment", "x-vendor", "1042", "shop's API"):
        assert gone not in text
    assert form["properties"]["id"] == {"type": "string", "description": "The order's id.", "pattern": "^[0-9]+$"}
    # a property named like a keyword is a name, never dropped as an annotation
    assert form["properties"]["description"] == {"type": "string"}
    assert form["required"] == ["id", "customer"] and form["additionalProperties"] is False
    assert form["$defs"]["Person"]["properties"]["name"] == {"type": "string", "minLength": 1, "description": "Full name."}


def test_the_bare_structure_keeps_what_shapes_a_value_and_nothing_else():
    bare = CompactListing(PARAMETERS).form(descriptions=0, assertions=False)
    assert bare == {
        "type": "object",
        "properties": {"id": {"type": "string"}, "customer": {"$ref": "#/$defs/Person"},
                       "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}, "description": {"type": "string"}},
        "required": ["id", "customer"], "additionalProperties": False,
        "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}},
                  "Item": {"type": "object", "properties": {"sku": {"type": "string"}, "kind": {"enum": ["a", "b"]}}}},
    }


def test_the_fit_keeps_everything_it_can_and_the_outermost_descriptions_longest():
    listing = CompactListing(PARAMETERS)
    full = listing.form(descriptions=7, assertions=True)
    assert fit(PARAMETERS, lambda form: True).parameters == full
    # room for the bare structure plus the two outermost descriptions, not three
    two = listing.form(descriptions=2, assertions=False)
    chosen = fit(PARAMETERS, lambda form: size(form) <= size(two))
    assert chosen.parameters == two
    assert chosen.parameters["description"] == "An order." and "description" not in chosen.parameters["properties"]["customer"]
    assert chosen.left_out == ("titles, examples, defaults and other annotations; value bounds and patterns (the "
                               "constraint still applies them); 5 of 7 descriptions (innermost first)")


def test_each_form_is_no_larger_than_the_one_before():
    listing = CompactListing(PARAMETERS)
    sizes = [size(listing.form(descriptions=7, assertions=True))] + [
        size(listing.form(descriptions=k, assertions=False)) for k in range(7, -1, -1)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] < size(PARAMETERS)


def test_an_outline_keeps_the_structure_down_to_its_depth_and_cuts_the_rest_to_types():
    listing = CompactListing(PARAMETERS)
    assert listing.outline(1) == {
        "type": "object",
        "properties": {"id": {"type": "string"}, "customer": {}, "items": {"type": "array"}, "description": {"type": "string"}},
        "required": ["id", "customer"], "additionalProperties": False,
    }
    # two levels: the customer's reference is kept and its definition outlined from there; an item's is cut
    assert listing.outline(2) == {
        "type": "object",
        "properties": {"id": {"type": "string"}, "customer": {"$ref": "#/$defs/Person"},
                       "items": {"type": "array", "items": {}}, "description": {"type": "string"}},
        "required": ["id", "customer"], "additionalProperties": False,
        "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    # an item's kind is three levels down (items, an item, its kind); one level more is the bare structure
    assert listing.depth == 3 and listing.outline(4) == listing.form(descriptions=0, assertions=False)
    assert listing.outline(3)["$defs"]["Item"]["properties"]["kind"] == {}


def test_a_recursive_definition_is_outlined_down_to_the_depth_and_no_further():
    tree = {"type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}}
    assert CompactListing(tree).outline(3) == {
        "type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {"children": {"type": "array", "items": {}}}}}}


def test_below_the_bare_structure_the_deepest_outline_that_fits_is_chosen():
    listing = CompactListing(PARAMETERS)
    one, bare = listing.outline(1), listing.form(descriptions=0, assertions=False)
    chosen = fit(PARAMETERS, lambda form: size(form) < size(bare))
    assert chosen.parameters == listing.outline(3)
    assert chosen.left_out.startswith("every description and annotation; the structure below its first 3 levels")
    two = listing.outline(2)
    assert size(two) < size(listing.outline(3)) and fit(PARAMETERS, lambda form: size(form) <= size(two)).parameters == two
    assert fit(PARAMETERS, lambda form: size(form) <= size(one)).parameters == one


def test_nothing_fits_when_not_even_the_top_level_fields_do():
    one = CompactListing(PARAMETERS).outline(1)
    assert fit(PARAMETERS, lambda form: size(form) < size(one)) is None


def test_the_fit_asks_about_a_logarithmic_number_of_forms():
    many = {"type": "object", "properties": {f"p{i}": {"type": "string", "description": f"field {i}"} for i in range(1000)}}
    asked = []
    fit(many, lambda form: asked.append(form) or size(form) < 9000)
    assert len(asked) <= 2 + 11
    deep = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}}
    asked.clear()
    fit(deep, lambda form: asked.append(form) or False)
    assert len(asked) == 3  # the fullest form, the bare structure, the top-level outline
