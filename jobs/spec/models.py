"""The job spec's sections as pydantic models (extra fields forbidden, errors name the field)."""

import string
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from operators import k2_format
from pipelines.registry import MODES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class InputSpec(_Strict):
    uri: str = Field(description="A Parquet file, a folder of them, or a glob: local path, file:// or any fsspec URL.")
    id_column: str = Field(description="Unique row key, carried to every output row.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="Passed to fsspec.")


class TaskSpec(_Strict):
    mode: Literal[tuple(MODES)] = Field(  # type: ignore[valid-type] - the registered modes (pipelines/registry.py)
        default="extract", description="; ".join(f"{name}: {mode.description}" for name, mode in MODES.items()) + ".",
    )
    schema_: Any = Field(
        default=None,
        alias="schema",
        description="module:Class of a pydantic model, a path to a JSON Schema file, or a pydantic class. Required "
        "for extract and summarize (unless task.response_column); for label only with task.label_field.",
    )
    schema_modules: list[str] = Field(
        default_factory=list, description="Modules besides the 'schemas' package that a schema may be imported from."
    )
    tool_name: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The tool's name in the prompt; required with task.schema (label mode defaults it).",
    )
    tool_description: str | None = Field(default=None, description="The tool's description in the prompt.")
    labels: list[str] | dict[str, str] | None = Field(
        default=None,
        description="Label mode: the allowed labels, as a list or as {label: description}; decoding is constrained to them.",
    )
    label_field: str | None = Field(
        default=None, description="Label mode with task.schema: the schema's string enum / Literal field that holds the label.",
    )
    rationale: bool = Field(default=False, description="Label mode with task.labels: also ask for a short `rationale`.")
    response_column: str | None = Field(
        default=None,
        description="Summarize mode without extraction: the input column whose JSON text the model summarizes.",
    )
    prompt: str = Field(min_length=1, description="The user turn; {column} placeholders take row values.")
    system_prompt: str = Field(
        default=k2_format.FUNCTION_CALLING_V1,
        description=f"System prompt template with a {{tools}} placeholder; default {k2_format.FUNCTION_CALLING_V1_NAME}.",
    )
    prime_tool_call: bool = Field(default=True, description="Open the answer with <tool_call> (inferred default).")
    dedup: bool | None = Field(
        default=None,
        description="Answer rows with identical first-attempt prompts once per engine replica and give each the answer; "
        "default: on when model.temperature is 0.",
    )
    confidence: bool | None = Field(
        default=None,
        description="Give each record a confidence: label mode `_label_probs` (every declared label's probability) "
        "and `_confidence`; extract and summarize `_field_confidence` (per top-level field) and `_confidence` (the "
        "lowest). Default: the mode's (on in label, off in extract and summarize, where it costs more). What the "
        "probabilities are: docs/confidence.md.",
    )
    review_below: float = Field(
        default=0.5, ge=0.0, le=1.0, multiple_of=0.01,
        description="Records whose _confidence is below this need a person's review: the report and summary.json "
        "count them and `k2batch review --below` defaults to it (a multiple of 0.01: counted from summary.json's "
        "100-bucket confidence histogram).",
    )
    overflow: Literal["reject", "truncate"] = Field(
        default="reject",
        description="A row whose prompt would not fit max_model_len - max_tokens: reject it (prompt_too_long), or "
        "keep the head and tail of its longest prompt column and mark the record _truncated.",
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    @field_validator("prompt")
    @classmethod
    def _placeholders_are_plain(cls, prompt: str) -> str:
        for _, field, spec, conversion in string.Formatter().parse(prompt):
            if field is not None and (not field.isidentifier() and not field.replace("-", "_").isidentifier() or spec or conversion):
                raise ValueError(f"placeholder {{{field}}} must be a plain column name")
        return prompt

    @field_validator("system_prompt")
    @classmethod
    def _has_tools(cls, template: str) -> str:
        if "{tools}" not in template:
            raise ValueError("the system prompt template must contain {tools}")
        return template

    @field_validator("labels")
    @classmethod
    def _labels_are_distinct_names(cls, labels):
        if labels is None:
            return labels
        names = list(labels)
        if not names or any(not isinstance(n, str) or not n.strip() for n in names) or len(set(names)) != len(names):
            raise ValueError(f"labels must be distinct non-empty names, got {names}")
        return labels

    @model_validator(mode="after")
    def _fields_fit_the_mode(self) -> "TaskSpec":
        """The mode's rules (pipelines/mode.py), and no field that another mode reads (a
        typo'd mode must not silently ignore them). Messages name the field to fix."""
        mode = MODES[self.mode]
        for name in sorted({name for other in MODES.values() for name in other.task_fields} - mode.task_fields):
            if getattr(self, name):
                raise ValueError(f"task.{name}: not used in mode {self.mode}")
        if self.rationale and not self.labels:
            raise ValueError("task.rationale: only with task.labels (mode label)")
        mode.check_task(self)
        for name, value in mode.task_defaults(self).items():
            if getattr(self, name) in (None, ""):  # an explicit False (task.confidence) stays
                setattr(self, name, value)
        return self

    @property
    def prompt_columns(self) -> list[str]:
        return list(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(self.prompt) if f is not None))


class ReplicaRange(_Strict):
    min: int = Field(ge=1, description="Replicas the run starts with: it begins once this many are ready.")
    max: int = Field(ge=1, description="Most replicas: more start while the cluster has room for them, up to this.")

    @model_validator(mode="after")
    def _ordered(self) -> "ReplicaRange":
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self


class ModelSpec(_Strict):
    source: str = Field(description="Local model folder or Hugging Face hub id.")
    revision: str | None = Field(default=None, description="Hub revision; part of the fingerprint.")
    tensor_parallel_size: int = Field(default=1, ge=1, description="Ranks per engine replica (GPUs, or CPU cores).")
    # Tagged, so that a mistake in a range is reported for the range alone, not also as "not an int".
    replicas: Annotated[Annotated[int, Tag("count")] | Annotated[ReplicaRange, Tag("range")],
                        Discriminator(lambda value: "range" if isinstance(value, (dict, ReplicaRange)) else "count")] = Field(
        default=1,
        description="Engine replicas (actors): a number, or {min, max}: the run starts once min are ready and adds "
        "replicas up to max as the cluster has room (Ray Data's actor pool autoscaling).",
    )
    max_model_len: int = Field(default=4096, ge=16, description="Context length the engine is built with.")
    max_tokens: int = Field(default=512, ge=1, description="Answer length limit per attempt.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int = Field(default=0, description="Sampling seed, per request.")
    max_attempts: int = Field(default=3, ge=1, le=10, description="Attempts per row, re-asking on an invalid answer.")
    batch_size: int = Field(default=64, ge=1, description="Rows per Ray Data batch sent to an engine actor.")
    max_batches_in_flight: int = Field(
        default=8, ge=1,
        description="Batches of an input block an engine actor works on at once (twice that while one block ends and "
        "the next starts): batch_size x this should exceed the engine's max_num_seqs, so it never waits for rows.",
    )
    device: Literal["auto", "cpu", "gpu"] = Field(
        default="auto", description="What an engine's ranks ask Ray for; auto: GPUs when the cluster has them, else CPU cores."
    )
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0, description="vLLM's GPU memory share (GPU only).")
    cpu_threads_bind: str | None = Field(
        default=None,
        description="VLLM_CPU_OMP_THREADS_BIND for a CPU engine, e.g. '0-3' or '0-1|2-3' (one group per rank); "
        "default: every core the actor may use, split evenly over the ranks.",
    )
    cpu_kv_cache_gib: int = Field(default=2, ge=1, description="KV cache size on the CPU platform (VLLM_CPU_KVCACHE_SPACE).")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto",
        description="The weights' and activations' type. auto: on a GPU, vLLM's choice from the model's config; on a "
        "CPU, bfloat16 where its cores compute it natively (AVX512-BF16 or AMX on x86, BF16 on Arm), else float32, "
        "which cores without it run several times faster than emulated bfloat16, at twice the memory.",
    )
    enable_prefix_caching: bool = Field(default=True, description="Share the system prompt's KV cache across rows.")
    stall_timeout_s: float = Field(
        default=300.0, gt=0,
        description="Once an engine is up: if no row is answered or written for this long, the run stops with exit 4 "
        "and one line naming what was stuck (a unit, the writer, the input).",
    )
    engine_start_timeout_s: float = Field(
        default=1800.0, gt=0,
        description="An engine replica must finish starting within this long of the run's start (or of its restart), "
        "else the run stops with exit 4; loading a large model's weights (or downloading them) counts. A run that "
        "lost a node waits this long for a node with room for a replica.",
    )
    drain_timeout_s: float = Field(
        default=60.0, gt=0,
        description="On SIGTERM or SIGINT (a preemption notice, `ray job stop`): no new unit starts, and the units in "
        "flight have this long to finish and commit; then the run stops with exit 4, naming the units left (none left: "
        "it finishes as usual). A second signal stops it at once.",
    )

    @field_validator("replicas")
    @classmethod
    def _at_least_one(cls, replicas: "int | ReplicaRange") -> "int | ReplicaRange":
        if isinstance(replicas, int) and replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {replicas}")
        return replicas

    @property
    def replica_range(self) -> tuple[int, int]:
        """(min, max) replicas; a number N is (N, N)."""
        r = self.replicas
        return (r, r) if isinstance(r, int) else (r.min, r.max)


class TableSpec(_Strict):
    format: Literal["iceberg", "delta"] = Field(description="iceberg (through a pyiceberg catalog) or delta (delta-rs).")
    records: str = Field(description="The records table: iceberg: namespace.table in the catalog; delta: the table's "
                         "URI (a local path or s3://...).")
    rejects: str = Field(description="The rejects table, named as output.table.records is.")
    catalog: str | dict[str, Any] | None = Field(
        default=None,
        description="iceberg: pyiceberg's catalog properties (type sql, rest, glue, hive, ...) or the name of a catalog "
        "configured for pyiceberg; default: a SQL catalog on SQLite under a local output.uri (_iceberg/). Store "
        "credentials default to output.storage_options'. Secrets in it are masked in logs.",
    )
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="delta: delta-rs storage options (AWS_ENDPOINT_URL, ...); default: output.storage_options' "
        "credentials and endpoint, translated.",
    )

    @model_validator(mode="after")
    def _fits_the_format(self) -> "TableSpec":
        if self.records == self.rejects:
            raise ValueError(f"output.table.rejects: must be another table than output.table.records ({self.records})")
        if self.format == "delta" and self.catalog is not None:
            raise ValueError("output.table.catalog: only for format iceberg (a delta table is its URI)")
        if self.format == "iceberg":
            if self.storage_options:
                raise ValueError("output.table.storage_options: only for format delta (iceberg's go in output.table.catalog)")
            for name in (self.records, self.rejects):
                if "." not in name.strip(".") or "/" in name:
                    raise ValueError(f"output.table: iceberg tables are named namespace.table, got {name!r}")
        return self


class OutputSpec(_Strict):
    uri: str = Field(description="Folder for records/, rejects/ and summary.json: local path or fsspec URL.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="Passed to fsspec.")
    mode: Literal["resume", "overwrite", "fail_if_exists"] = Field(
        default="resume",
        description="resume: reuse committed units of the same job fingerprint and refuse to mix with others; "
        "overwrite: delete earlier results first; fail_if_exists: refuse to run over earlier results.",
    )
    unit_rows: int = Field(
        default=2048, ge=1,
        description="Most input rows in a unit, the unit of commit and resume: a unit's results are published together "
        "once all its rows are written. Smaller units lose less work to a crash; each costs a few storage requests "
        "and a read task.",
    )
    max_reject_rate: float = Field(
        default=0.05, ge=0.0, le=1.0,
        description="Largest share of input rows that may be rejects; above it the run exits with code 3 "
        "(results and summary are still written).",
    )
    table: TableSpec | None = Field(
        default=None,
        description="Write records and rejects into Iceberg or Delta tables instead of the records/ and rejects/ "
        "folders, one table commit per unit (docs/table-output.md); the manifest, logs and summary stay under output.uri.",
    )

    @model_validator(mode="after")
    def _embedded_catalog_is_local(self) -> "OutputSpec":
        table = self.table
        if table and table.format == "iceberg" and table.catalog is None and "://" in self.uri and not self.uri.startswith("file://"):
            raise ValueError("output.table.catalog: the embedded SQLite catalog needs a local output.uri; give the "
                             "catalog's properties (e.g. {type: sql, uri: 'sqlite:////abs/catalog.db', warehouse: 's3://...'})")
        return self


class JobSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Job name; used in run ids.")
    input: InputSpec = Field(description="The rows to run: Parquet files and the id column that keys them.")
    task: TaskSpec = Field(description="What the model does with each row: the mode, the record schema and tool, the prompt.")
    model: ModelSpec = Field(
        description="The engine: weights, tensor parallelism and replicas, sampling, re-asks, batching, timeouts."
    )
    output: OutputSpec = Field(
        description="Where records/, rejects/ and summary.json go, what to do with earlier results, units, reject limit."
    )

    @model_validator(mode="after")
    def _room_for_an_answer(self) -> "JobSpec":
        if self.model.max_tokens >= self.model.max_model_len:
            raise ValueError(
                f"model.max_tokens ({self.model.max_tokens}) must be below model.max_model_len "
                f"({self.model.max_model_len}) to leave room for the prompt"
            )
        return self
