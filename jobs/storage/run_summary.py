"""summary.json: what a finished run says about its output, written and read through one
model. Its JSON Schema is published as docs/summary.schema.json
(`python -m jobs.storage.run_summary > docs/summary.schema.json`; a test keeps it current)."""

import json

from pydantic import BaseModel, ConfigDict, Field

from operators.usage import Usage

SUMMARY_NAME = "summary.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineRun(_Model):
    """One engine replica of the run: where Ray placed it, how often Ray restarted it, and
    how many rows it answered."""

    node_id: str = Field(description="The Ray node the replica ran on (last, if Ray restarted it on another).")
    restarts: int = Field(description="How many times Ray restarted the replica's actor (its process or node died).")
    rows: int = Field(default=0, description="Rows of this run's committed units that the replica answered.")


class NodeLoss(_Model):
    """A node the run lost while it ran (e.g. a spot instance taken back), and what ran again."""

    node_id: str = Field(description="The lost Ray node.")
    address: str = Field(description="Its IP address.")
    lost_after_s: float = Field(description="Seconds into the run when the driver saw the node dead.")
    rerun_units: list[str] = Field(
        description="Units that were in flight there, uncommitted (rows taken by its engines), or that ran again "
        "in a new pass because of the loss: what of them was lost ran again; committed units never do.")


class OutputFolders(_Model):
    records: str = Field(description="The records dataset's folder, or its table (output.table) (credentials masked).")
    rejects: str = Field(description="The rejects dataset's folder, or its table (output.table) (credentials masked).")


class FingerprintRows(_Model):
    records: int = 0
    rejects: int = 0


class ConfidenceSummary(_Model):
    """task.confidence: how confident the records are (docs/confidence.md)."""

    records: int = Field(description="Records with a _confidence.")
    quantiles: dict[str, float] = Field(
        description="Quantiles of _confidence over those records (p05, p10, p25, p50, p75, p90, p95), to within 0.01.")
    review_below: float = Field(description="task.review_below: records below it need a person's review.")
    below_review: int = Field(description="Records whose _confidence is below review_below (`k2batch review`).")


class RunSummary(_Model):
    """summary.json. Counts cover the whole output (reused units included) unless a field
    says it is this run's."""

    name: str = Field(description="The job's name.")
    run_id: str = Field(default="", description="This run's id (--run-id; default: the job name plus its parameters).")
    input_rows: int = Field(description="Every input row of the job; always records + rejects.")
    records: int = Field(description="Rows that became schema-valid records.")
    rejects: int = Field(description="Rows kept in rejects/ with their reason.")
    reject_reasons: dict[str, int] = Field(description="Rejects by reason code.")
    prompt_tokens: int = Field(description="Prompt tokens of every attempt of every row.")
    completion_tokens: int = Field(description="Completion tokens of every attempt of every row.")
    cached_prompt_tokens: int = Field(description="Of prompt_tokens, those the prefix cache served.")
    units: int = Field(description="Units of the output (row ranges of one input file each).")
    reused_units: int = Field(description="Units committed by earlier runs and reused as they were.")
    reused_rows: int = Field(description="Rows of the reused units.")
    engines: list[EngineRun] = Field(description="This run's engine replicas; empty if no engine ran.")
    lost_nodes: list[NodeLoss] = Field(default_factory=list, description="Nodes this run lost and went on without.")
    engine_seconds: float = Field(default=0.0, description="This run's engine busy time, summed over replicas.")
    wall_seconds: float = Field(description="This run's wall time.")
    deduplicated_rows: int = Field(default=0, description="Rows given the answer of an identical earlier prompt.")
    retried_rows: int = Field(default=0, description="Rejects this run answered again (--retry-rejects).")
    recovered_rows: int = Field(default=0, description="Of retried_rows, those that became records.")
    rows_by_fingerprint: dict[str, FingerprintRows] = Field(
        default_factory=dict, description="Records and rejects by the job fingerprint that produced them.")
    label_distribution: dict[str, int] | None = Field(
        default=None, description="Label mode: records per declared label, every label listed.")
    confidence: ConfidenceSummary | None = Field(default=None, description="With task.confidence: the records' confidence.")
    input_uri: str | None = Field(default=None, description="input.uri (credentials masked): where `k2batch review` "
                                  "finds the rows' text.")
    fingerprints: dict[str, str] = Field(description="The job's fingerprints (job, prompt, schema, model, ...).")
    model: str = Field(description="model.source.")
    output: OutputFolders
    k2batch_version: str
    logs: str | None = Field(default=None, description="The run's folder of logs and timeline, under the output.")
    report: str | None = Field(default=None, description="The job report's file next to summary.json, if written.")

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens, self.cached_prompt_tokens)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2, sort_keys=True)

    def to_line(self) -> str:
        """One line of JSON, the CLI's last stdout line for log scrapers."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)


if __name__ == "__main__":
    print(json.dumps(RunSummary.model_json_schema(), indent=2))
