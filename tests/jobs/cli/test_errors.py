"""The CLI's one error path: each kind of failure becomes one line and its exit code."""

import pytest
from pydantic import ValidationError

from jobs import exit_codes
from jobs.cli.errors import error_message, describe_spec_error, fail
from jobs.devtools.evaluate import GoldError
from jobs.spec import JobSpec, JobSpecError
from jobs.storage.request_retries import StorageError


def test_spec_errors_exit_2_naming_the_field():
    with pytest.raises(ValidationError) as invalid:
        JobSpec.model_validate({"name": "x"})
    message, code = error_message(invalid.value)
    assert code == exit_codes.SPEC_ERROR and message.startswith("invalid job spec: input: Field required")
    assert error_message(JobSpecError("model.source: no model folder")) == ("model.source: no model folder", exit_codes.SPEC_ERROR)
    assert error_message(StorageError("output.uri: refused"))[1] == exit_codes.SPEC_ERROR
    assert error_message(GoldError("no id column")) == ("--gold: no id column", exit_codes.SPEC_ERROR)


def test_anything_else_is_an_infrastructure_error_in_one_line():
    assert error_message(RuntimeError("engine gone\ntraceback...")) == ("RuntimeError: engine gone", exit_codes.INFRASTRUCTURE_ERROR)


def test_reading_the_spec_always_exits_2():
    import yaml

    with pytest.raises(yaml.YAMLError) as bad:
        yaml.safe_load("a: [")
    message, code = describe_spec_error(bad.value)
    assert code == exit_codes.SPEC_ERROR and "\n" not in message


def test_fail_prints_the_one_line(capsys):
    assert fail("it broke", 4) == 4
    assert capsys.readouterr().err == "k2batch: error: it broke\n"
