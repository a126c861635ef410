"""`model.replicas` as a number or a range, and `model.drain_timeout_s`: what a spec
writes, what the run gets, and one line naming the field for a mistake."""

import pytest
import yaml

from jobs.cli.errors import error_message
from jobs.spec import JobSpec
from jobs.spec.load import parse_job
from tests.conftest import job_spec


def model(**fields):
    return JobSpec.model_validate(job_spec(model=fields)).model


def test_a_number_is_a_range_of_itself_and_a_range_is_min_to_max():
    assert model().replica_range == (1, 1)
    assert model(replicas=3).replica_range == (3, 3)
    assert model(replicas={"min": 1, "max": 8}).replica_range == (1, 8)
    assert model().drain_timeout_s == 60.0


def test_set_takes_either_form():
    text = yaml.safe_dump(job_spec())
    spec = parse_job(text, overrides=["model.replicas={min: 2, max: 4}", "model.drain_timeout_s=90"])
    assert spec.model.replica_range == (2, 4) and spec.model.drain_timeout_s == 90
    assert parse_job(text, overrides=["model.replicas=2"]).model.replica_range == (2, 2)


@pytest.mark.parametrize(("replicas", "line"), [
    (0, "model.replicas: Value error, replicas must be at least 1, got 0"),
    ({"min": 3, "max": 2}, "model.replicas.range: Value error, max (2) must be at least min (3)"),
    ({"min": 0, "max": 2}, "model.replicas.range.min: Input should be greater than or equal to 1"),
    ({"min": 1}, "model.replicas.range.max: Field required"),
    ({"min": 1, "max": 2, "step": 1}, "model.replicas.range.step: Extra inputs are not permitted"),
])
def test_a_wrong_replicas_is_one_line_naming_the_field(replicas, line):
    with pytest.raises(Exception) as refused:
        model(replicas=replicas)
    assert error_message(refused.value) == (f"invalid job spec: {line}", 2)
