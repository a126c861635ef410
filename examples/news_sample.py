"""Write the demo's input: synthetic news articles as Parquet, a few files of rows.

python -m examples.news_sample data/news --rows 48 --files 3
"""

import argparse
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PLACES = [
    ("Lyon", "France"), ("Osaka", "Japan"), ("Porto", "Portugal"), ("Cusco", "Peru"), ("Leeds", "United Kingdom"),
    ("Gdansk", "Poland"), ("Mombasa", "Kenya"), ("Hobart", "Australia"), ("Tampere", "Finland"), ("Recife", "Brazil"),
]
EVENTS = [
    ("politics", "City council approves new budget"), ("business", "Local port reports record cargo"),
    ("science", "University team maps coastal currents"), ("sports", "Home side wins the regional final"),
    ("culture", "Old theatre reopens after restoration"),
]


def article(rng: random.Random) -> dict:
    city, country = rng.choice(PLACES)
    events = rng.sample(EVENTS, k=rng.randint(1, 3))
    sentences = [f"{title} in {city}, {country}." for _, title in events]
    return {"city": city, "country": country, "body": " ".join(sentences), "headlines": [t for _, t in events]}


def write_sample(folder: str | Path, *, rows: int = 48, files: int = 3, seed: int = 0) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    items = [article(rng) for _ in range(rows)]
    paths = []
    for n in range(files):
        part = items[n::files]
        ids = [f"doc-{i:05d}" for i in range(n, rows, files)]
        table = pa.table({"doc_id": ids, "body": [a["body"] for a in part], "city": [a["city"] for a in part],
                          "country": [a["country"] for a in part]})
        path = folder / f"part-{n}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path in write_sample(args.folder, rows=args.rows, files=args.files, seed=args.seed):
        print(f"wrote {path}")
