"""`--param NAME=VALUE` fills `{NAME}` in input.uri and output.uri only; a placeholder
without a value and a value without a placeholder are both errors naming what to fix."""

import pytest

from jobs.spec.params import ParamError, default_run_id, fill_params, parse_params, placeholders


def spec(input_uri="s3://b/news/dt={ds}/", output_uri="s3://b/out/dt={ds}/") -> dict:
    return {"name": "daily", "input": {"uri": input_uri}, "output": {"uri": output_uri}, "task": {"prompt": "Read {body}"}}


def test_values_are_taken_verbatim():
    assert parse_params(["ds=2026-11-26", "q=a=b", "empty="]) == {"ds": "2026-11-26", "q": "a=b", "empty": ""}
    assert parse_params([]) == {}


@pytest.mark.parametrize("pair", ["ds", "=x", "1ds=x", "d-s=x", "d s=x"])
def test_a_malformed_pair_is_refused_naming_it(pair):
    with pytest.raises(ParamError, match=f"^--param {pair!r}: expected NAME=VALUE"):
        parse_params([pair])


def test_placeholders_are_plain_names_and_literal_braces_are_not_placeholders():
    assert placeholders("s3://b/{region}/dt={ds}/{ds}", "input.uri") == ["region", "ds", "ds"]
    assert placeholders("s3://b/{{literal}}/x", "input.uri") == []
    for template, written in (("s3://b/{ds:>10}", "{ds:>10}"), ("s3://b/{}", "{}"), ("s3://b/{ds.year}", "{ds.year}")):
        with pytest.raises(ParamError, match=f"^output.uri: placeholder {written.replace('{', '[{]')} must be a plain name"):
            placeholders(template, "output.uri")
    with pytest.raises(ParamError, match=r"^input.uri: .* in 's3://b/\{ds' \(write a literal brace as \{\{ or \}\}\)"):
        placeholders("s3://b/{ds", "input.uri")


def test_both_uris_are_filled_and_nothing_else():
    data = spec()
    fill_params(data, {"ds": "2026-11-26"})
    assert data == {"name": "daily", "input": {"uri": "s3://b/news/dt=2026-11-26/"}, "output": {"uri": "s3://b/out/dt=2026-11-26/"},
                    "task": {"prompt": "Read {body}"}}


def test_a_parameter_used_in_one_uri_only_is_known():
    data = spec(input_uri="s3://b/news/")
    fill_params(data, {"ds": "1"})
    assert data["input"]["uri"] == "s3://b/news/" and data["output"]["uri"] == "s3://b/out/dt=1/"


def test_a_placeholder_without_a_value_names_the_flag_to_pass():
    data = spec(output_uri="s3://b/out/{region}/dt={ds}/")
    with pytest.raises(ParamError, match=r"^output.uri: placeholder \{region\} has no value; pass --param region=VALUE$"):
        fill_params(data, {"ds": "1"})


def test_a_value_without_a_placeholder_is_a_typo_not_ignored():
    with pytest.raises(ParamError, match=r"^--param dss: no \{dss\} placeholder in input.uri or output.uri$"):
        fill_params(spec(), {"ds": "1", "dss": "1"})


def test_a_missing_or_non_text_uri_is_left_to_the_spec_validation():
    data = {"input": {"uri": 3}, "output": "not a section"}
    fill_params(data, {})
    assert data == {"input": {"uri": 3}, "output": "not a section"}
    with pytest.raises(ParamError, match="--param ds: no"):
        fill_params({"input": {}}, {"ds": "1"})


def test_the_run_id_names_the_parameters_whatever_their_order():
    assert default_run_id("daily", {"region": "eu", "ds": "1"}) == default_run_id("daily", {"ds": "1", "region": "eu"})
    assert default_run_id("daily", {"ds": "1"}) != default_run_id("daily", {"ds": "2"}) != default_run_id("daily", {})
