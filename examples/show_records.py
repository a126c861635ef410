"""Print a job's records beside the input text they came from.

python -m examples.show_records data/news out/news --rows 4
"""

import argparse
import textwrap

import pandas as pd


def show(input_uri: str, output_uri: str, *, rows: int, id_column: str, text_column: str) -> str:
    inputs = pd.read_parquet(input_uri, columns=[id_column, text_column]).set_index(id_column)
    records = pd.read_parquet(f"{output_uri.rstrip('/')}/records").set_index(id_column).sort_index()
    fields = [c for c in records.columns if not c.startswith("_")]
    lines = []
    for row_id, record in records.head(rows).iterrows():
        lines.append(f"{row_id}: {textwrap.shorten(inputs.loc[row_id, text_column], 160)}")
        for field in fields:
            lines.append(f"    {field}: {_plain(record[field])}")
    return "\n".join(lines)


def _plain(value):
    """Parquet lists and structs come back as numpy arrays and dicts: print them as JSON-ish."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="the job's input (file or folder)")
    parser.add_argument("output", help="the job's output folder (holds records/)")
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--id-column", default="doc_id")
    parser.add_argument("--text-column", default="body")
    args = parser.parse_args()
    print(show(args.input, args.output, rows=args.rows, id_column=args.id_column, text_column=args.text_column))
