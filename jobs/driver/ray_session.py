"""The driver's Ray session: join a submitted job's cluster or start a local one, and
what that cluster can hold (GPUs or not, whether one engine replica fits)."""

import logging
import os

import ray
from ray._private import ray_constants

from jobs.plan.replica_fit import NodeCapacity, replica_fit_warning, uses_gpus
from jobs.spec import JobSpec

log = logging.getLogger("k2batch")

def connect_ray(spec: JobSpec) -> bool:
    """Join the cluster a submitted job runs on; otherwise start a local one sized so
    that the engine replicas leave a core for reading and writing. True if connected
    here (then shut down after: on a cluster that only disconnects this driver)."""
    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):  # Ray's job supervisor sets it for a submitted job
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        return True
    engine_cpus = spec.model.tensor_parallel_size * spec.model.replica_range[0]
    # address="local": a new cluster even when another `ray start` on this machine left
    # /tmp/ray/ray_current_cluster behind, which a bare ray.init() would join.
    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, engine_cpus + 1), include_dashboard=False,
             log_to_driver=True)
    return True


def disconnect_ray() -> None:
    """`ray.shutdown()`, after ending a local session's autoscaler monitor at once. The
    monitor has nothing to do on a cluster of fixed size, and shutdown stops the GCS
    before it: its SIGTERM handler then reports to the stopped GCS until shutdown's second
    of grace runs out, a second added to every local run. Ended with SIGKILL, no handler
    runs. A driver joined to a cluster started none."""
    node = ray._private.worker._global_node
    monitors = node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR, []) if node is not None else []
    for info in monitors:
        info.process.kill()
        info.process.wait()
    ray.shutdown()


def session_replicas(spec: JobSpec) -> tuple[int, int]:
    """(min, max) engine replicas for this session. On a local cluster a range grows no
    further than this machine's cores allow beside a core for reading and writing (its
    logical CPUs would let Ray start one engine per core and leave the tasks none); a
    cluster's own resources bound it there (Ray Data's autoscaling)."""
    low, high = spec.model.replica_range
    if os.environ.get("RAY_ADDRESS") or session_uses_gpus(spec):
        return low, high
    room = ((os.cpu_count() or 1) - 1) // spec.model.tensor_parallel_size
    return low, max(low, min(high, room))


def session_uses_gpus(spec: JobSpec) -> bool:
    """Whether this session's engines ask for GPUs (connected Ray required)."""
    return uses_gpus(spec.model.device, ray.cluster_resources().get("GPU", 0))


def warn_if_no_node_fits(spec: JobSpec) -> None:
    """Fail in seconds, not at an engine's start, when no node can hold one replica.
    A local cluster counts this machine's cores: its logical CPUs are raised above
    them so that reading and writing tasks can run beside the engine."""
    local = not os.environ.get("RAY_ADDRESS")
    nodes = [
        NodeCapacity(node_id=n["NodeID"], cpus=float(os.cpu_count() or 1) if local else n["Resources"].get("CPU", 0.0),
                     gpus=n["Resources"].get("GPU", 0.0))
        for n in ray.nodes() if n["Alive"]
    ]
    warning = replica_fit_warning(spec, nodes, "this machine" if local else "the cluster")
    if warning:
        log.warning(warning)
