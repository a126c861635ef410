"""Whether a run uses GPUs, and whether one engine replica fits a node: checked before
anything is uploaded or any engine starts."""

import math
from dataclasses import dataclass

from jobs.spec import JobSpec, JobSpecError
from operators.engine_settings import replica_resources


class ClusterFitError(JobSpecError):
    """The cluster has no node that can hold one engine replica."""


@dataclass(frozen=True)
class NodeCapacity:
    node_id: str
    cpus: float
    gpus: float


def uses_gpus(device: str, cluster_gpus: float) -> bool:
    """`model.device`, with `auto` meaning GPUs when the cluster has any."""
    if device != "auto":
        return device == "gpu"
    return cluster_gpus > 0


def replica_fit_warning(spec: JobSpec, nodes: list[NodeCapacity], address: str) -> str | None:
    """Each replica asks one node for all its ranks (operators/engine_settings.py replica_resources):
    tensor_parallel_size GPUs plus a CPU on GPU clusters, tensor_parallel_size CPU cores
    on CPU clusters. Raises when no node fits one replica; returns a warning when the
    cluster, as it is now, cannot hold the replicas a run starts with at once (all of a
    fixed count, `min` of a range: an autoscaler may add nodes). A range's `max` is never
    checked: the run grows into whatever the cluster gives it."""
    model = spec.model
    use_gpus = uses_gpus(model.device, sum(n.gpus for n in nodes))
    tp = model.tensor_parallel_size
    request = replica_resources(tp, use_gpus)
    need = {"gpus": request.get("num_gpus", 0), "cpus": request["num_cpus"]}
    need = {kind: amount for kind, amount in need.items() if amount}
    need_text = f"{tp} GPU(s) and 1 CPU core" if use_gpus else f"{tp} CPU core(s)"
    per_node = [min(math.floor(getattr(n, kind) / amount) for kind, amount in need.items()) for n in nodes]
    if not any(per_node):
        largest = max((n.gpus if use_gpus else n.cpus for n in nodes), default=0)
        raise ClusterFitError(
            f"model.tensor_parallel_size: one replica needs {need_text} on one node, but the largest node of the "
            f"cluster at {address} has {largest:g} ({len(nodes)} node(s)); lower model.tensor_parallel_size "
            "or add a larger node"
        )
    start = model.replica_range[0]
    if sum(per_node) < start:
        which = "replicas" if isinstance(model.replicas, int) else "replicas the run starts with (min)"
        return (f"model.replicas: the cluster holds {sum(per_node)} of {start} {which} at once now; "
                "the rest wait for resources")
    return None
