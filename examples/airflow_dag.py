"""An Airflow DAG that runs the daily news job once per day, for that day's `ds`.

Copy it into Airflow's dags/ folder on a machine that has this repository checked out
at K2BATCH_HOME (or point K2BATCH_HOME at it). The BashOperator fails the task on any
non-zero exit code; the code tells you what to do:
  2  spec error: fix the spec or its parameters, a retry fails the same way;
  3  reject rate above output.max_reject_rate: results are written, inspect rejects/;
  4  infrastructure (storage, Ray, engine): Airflow's retries re-run it, and a re-run
     reuses every unit already committed, so it writes no duplicate rows.
Set K2BATCH_RAY_ADDRESS (e.g. http://HEAD:8265) to submit to a Ray cluster and wait,
instead of running on the Airflow worker itself; the spec then needs absolute paths or
object-store URIs (submit refuses the example's relative data/ and out/ paths).

The command is a module constant so that tests can check it against the CLI without
Airflow installed.
"""

import os
from datetime import datetime, timedelta

K2BATCH_HOME = os.environ.get("K2BATCH_HOME", "/srv/k2batch")
RAY_ADDRESS = os.environ.get("K2BATCH_RAY_ADDRESS", "")
JOB = "jobs/examples/news_daily.yaml"

# {{ ds }} is Airflow's logical date as YYYY-MM-DD: the day the run is for, so a
# backfill or a cleared task runs the right partition.
if RAY_ADDRESS:
    DAILY_COMMAND = f"cd {K2BATCH_HOME} && .venv/bin/k2batch submit {JOB} --param ds={{{{ ds }}}} --address {RAY_ADDRESS} --wait"
else:
    DAILY_COMMAND = f"cd {K2BATCH_HOME} && .venv/bin/k2batch run {JOB} --param ds={{{{ ds }}}}"

try:
    from airflow import DAG
    from airflow.operators.bash import BashOperator
except ImportError:  # not an Airflow process: the constants above are all there is
    DAG = None

if DAG is not None:
    with DAG(
        dag_id="k2batch_news_daily",
        schedule="15 2 * * *",
        start_date=datetime(2026, 11, 1),
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
        tags=["k2batch"],
    ) as dag:
        BashOperator(task_id="extract_news", bash_command=DAILY_COMMAND)
