"""The typed plan of one run, built once by jobs/ from the spec and handed to a flow:
what to read, how to render prompts, which engine to build, what to ask it, where to
write. Nothing below pipelines/ sees the job spec."""

from dataclasses import dataclass

import pyarrow as pa

from operators.engine_settings import ConfidenceSettings, EngineSettings, PromptSettings, TaskSettings
from operators.read_units import UnitRead
from schemas.record_schema import RecordSchema


@dataclass(frozen=True)
class ReadSettings:
    units: list[UnitRead]  # the row ranges to read, each its own block
    filesystem: object  # fsspec filesystem
    columns: list[str]  # the id column first, then every column the prompts read
    schema: pa.Schema  # those columns, typed alike for every file


@dataclass(frozen=True)
class WriteSettings:
    filesystem: object
    staging_dir: str
    id_field: pa.Field
    record_schema: RecordSchema
    metadata: dict[str, str]  # Parquet metadata: how a file was made
    label_column: str | None = None  # label mode: the writer counts records by this column's value
    plain_types: bool = False  # JSON and enum columns as plain strings: files that become a table's (output.table)
    confidence: ConfidenceSettings | None = None  # task.confidence: the records' confidence columns (set by the plan)


@dataclass(frozen=True)
class EngineStageSettings:
    min_replicas: int  # the actor pool starts with these and never shrinks below them
    max_replicas: int  # and grows up to these while the cluster has room (Ray Data's autoscaling)
    batch_size: int  # rows per batch sent to an engine actor
    max_batches_in_flight: int
    use_gpus: bool


@dataclass(frozen=True)
class FlowPlan:
    mode: str  # a key of pipelines.registry.MODES
    read: ReadSettings
    prompts: PromptSettings
    response_column: str | None  # summarize mode: summarize this column's JSON, no extraction turn
    engine: EngineSettings
    task: TaskSettings
    stage: EngineStageSettings
    write: WriteSettings | None = None  # None: a preview, nothing written
