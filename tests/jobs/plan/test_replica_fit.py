"""Before anything is uploaded: `model.device` picks GPUs or CPU cores, a cluster with no
node that holds one replica is refused naming its largest node, and a cluster that holds
fewer replicas than asked at once gets a warning (an autoscaler may add nodes).
Which resource requests fit which nodes: tests/jobs/cluster/test_submit.py."""

import pytest

from jobs.plan.replica_fit import ClusterFitError, NodeCapacity, replica_fit_warning, uses_gpus
from jobs.spec import JobSpec, JobSpecError
from tests.conftest import job_spec


def spec(**model) -> JobSpec:
    return JobSpec.model_validate(job_spec(model=model))


@pytest.mark.parametrize(("device", "cluster_gpus", "expected"), [
    ("auto", 0, False), ("auto", 0.5, True), ("auto", 8, True), ("cpu", 8, False), ("gpu", 0, True)])
def test_device_auto_means_gpus_when_the_cluster_has_any(device, cluster_gpus, expected):
    assert uses_gpus(device, cluster_gpus) is expected


def test_no_node_large_enough_names_the_largest_and_the_fix():
    nodes = [NodeCapacity("a", cpus=16, gpus=2), NodeCapacity("b", cpus=16, gpus=3)]
    with pytest.raises(ClusterFitError) as refused:
        replica_fit_warning(spec(tensor_parallel_size=4), nodes, "http://head:8265")
    message = str(refused.value)
    assert message.startswith("model.tensor_parallel_size: one replica needs 4 GPU(s) and 1 CPU core on one node")
    assert "the largest node of the cluster at http://head:8265 has 3 (2 node(s))" in message
    assert message.endswith("lower model.tensor_parallel_size or add a larger node")
    assert isinstance(refused.value, JobSpecError), "a spec error: exit 2, not an infrastructure failure"


def test_a_cluster_without_nodes_is_refused():
    with pytest.raises(ClusterFitError, match=r"one replica needs 1 CPU core\(s\) on one node, .* has 0 \(0 node\(s\)\)"):
        replica_fit_warning(spec(), [], "http://head:8265")


def test_replicas_are_counted_over_every_node():
    nodes = [NodeCapacity("a", cpus=8, gpus=4), NodeCapacity("b", cpus=8, gpus=5), NodeCapacity("c", cpus=8, gpus=1)]
    assert replica_fit_warning(spec(tensor_parallel_size=2, replicas=4), nodes, "http://head:8265") is None
    warning = replica_fit_warning(spec(tensor_parallel_size=2, replicas=5), nodes, "http://head:8265")
    assert warning == "model.replicas: the cluster holds 4 of 5 replicas at once now; the rest wait for resources"


def test_on_cpus_a_replica_takes_one_core_per_rank():
    nodes = [NodeCapacity("a", cpus=7, gpus=0)]
    assert replica_fit_warning(spec(tensor_parallel_size=3, replicas=2), nodes, "http://head:8265") is None
    assert "holds 2 of 3 replicas" in replica_fit_warning(spec(tensor_parallel_size=3, replicas=3), nodes, "http://head:8265")


def test_a_range_is_checked_at_its_min_and_never_at_its_max():
    nodes = [NodeCapacity("a", cpus=2, gpus=0), NodeCapacity("b", cpus=1, gpus=0)]
    assert replica_fit_warning(spec(replicas={"min": 3, "max": 8}), nodes, "http://head:8265") is None
    warning = replica_fit_warning(spec(replicas={"min": 4, "max": 8}), nodes, "http://head:8265")
    assert warning == ("model.replicas: the cluster holds 3 of 4 replicas the run starts with (min) at once now; "
                       "the rest wait for resources")
    with pytest.raises(ClusterFitError, match="one replica needs 4 CPU core"):
        replica_fit_warning(spec(tensor_parallel_size=4, replicas={"min": 1, "max": 8}), nodes, "http://head:8265")
