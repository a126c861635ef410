"""A local Ray session ends without waiting on Ray's autoscaler monitor: shutdown stops
the GCS first, and the monitor's SIGTERM handler then reports to it until the second of
grace shutdown gives each process runs out."""

import ray
from ray._private import node as ray_node
from ray._private import ray_constants

from jobs.driver.ray_session import disconnect_ray


def test_a_local_session_has_ended_its_autoscaler_monitor_before_shutdown_signals_it(monkeypatch):
    ray.shutdown()  # whatever an earlier module left connected
    ray.init(address="local", num_cpus=1, include_dashboard=False)
    running_when_stopped = {}
    kill = ray_node.Node._kill_process_impl

    def recording(node, process_type, *args, **kwargs):
        running_when_stopped[process_type] = [info.process.poll() is None for info in node.all_processes[process_type]]
        return kill(node, process_type, *args, **kwargs)

    monkeypatch.setattr(ray_node.Node, "_kill_process_impl", recording)
    disconnect_ray()
    assert not ray.is_initialized()
    assert running_when_stopped[ray_constants.PROCESS_TYPE_GCS_SERVER] == [True]
    assert running_when_stopped[ray_constants.PROCESS_TYPE_MONITOR] == [False], "no SIGTERM, no grace second"
