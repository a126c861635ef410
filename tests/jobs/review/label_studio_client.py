"""Imports `k2batch review`'s files into a Label Studio server with label-studio-sdk and
reads back what the server holds, as JSON on stdout. It runs in the Label Studio venv
(the Makefile's .venv-labelstudio: label-studio's pins would change the main venv), so
the test starts it as a subprocess.

python label_studio_client.py URL TOKEN CONFIG.xml TASKS.json
"""

import json
import sys
from pathlib import Path

from label_studio_sdk import LabelStudio


def main(url: str, token: str, config: str, tasks: str) -> None:
    client = LabelStudio(base_url=url, api_key=token)
    project = client.projects.create(title="k2batch review", label_config=Path(config).read_text())
    client.projects.import_tasks(id=project.id, request=json.loads(Path(tasks).read_text()))
    held = []
    for task in client.tasks.list(project=project.id, fields="all"):
        predictions = client.predictions.list(task=task.id)
        held.append({"data": task.data, "predictions": [
            {"score": p.score, "model_version": p.model_version, "result": p.result} for p in predictions]})
    print(json.dumps({"project": project.id, "label_config": client.projects.get(id=project.id).label_config,
                      "tasks": held}))


if __name__ == "__main__":
    main(*sys.argv[1:])
