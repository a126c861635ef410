"""Write the demo's input: synthetic news articles as Parquet, a few files of rows.

python -m examples.news_sample data/news --rows 48 --files 3

Each article is a few sentences "{headline} in {city}, {country}.", so the record the
demo job should extract (city, country, headlines with their topics) is fully
determined by the text: the files carry it as columns, which makes them a gold set
for `k2batch eval`. The demo model is trained on the same generator
(jobs/train_testmodel.py), but only on the "train" split: every possible article falls
in exactly one split by a hash of its text, so the demo data and held-out gold sets
("heldout", the default here) are never items the model was trained on.
"""

import argparse
import hashlib
import random
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

PLACES = [
    ("Lyon", "France"), ("Osaka", "Japan"), ("Porto", "Portugal"), ("Cusco", "Peru"), ("Leeds", "United Kingdom"),
    ("Gdansk", "Poland"), ("Mombasa", "Kenya"), ("Hobart", "Australia"), ("Tampere", "Finland"), ("Recife", "Brazil"),
    ("Bergen", "Norway"), ("Graz", "Austria"), ("Cork", "Ireland"), ("Sevilla", "Spain"), ("Quebec", "Canada"),
    ("Daegu", "South Korea"), ("Tucson", "United States"), ("Leipzig", "Germany"), ("Rosario", "Argentina"),
    ("Durban", "South Africa"),
]
EVENTS = [
    ("politics", "City council approves new budget"), ("business", "Local port reports record cargo"),
    ("science", "University team maps coastal currents"), ("sports", "Home side wins the regional final"),
    ("culture", "Old theatre reopens after restoration"),
]
Split = Literal["train", "heldout"]
HELDOUT_SHARE = 5  # one article text in five belongs to the held-out split


def article(rng: random.Random) -> dict:
    """One article and the record it implies: `headlines` are {title, topic} in text order."""
    city, country = rng.choice(PLACES)
    # Events keep EVENTS' order: the record stays determined by the text, and a tiny model
    # need not learn to follow sentence order (it did not, in 500 steps).
    events = [EVENTS[i] for i in sorted(rng.sample(range(len(EVENTS)), k=rng.randint(1, 3)))]
    sentences = [f"{title} in {city}, {country}." for _, title in events]
    return {
        "city": city, "country": country, "body": " ".join(sentences),
        "headlines": [{"title": title, "topic": topic} for topic, title in events],
    }


def split_of(body: str) -> Split:
    """Stable across runs and machines (not Python's salted hash())."""
    digest = hashlib.sha256(body.encode()).digest()
    return "heldout" if digest[0] % HELDOUT_SHARE == 0 else "train"


def articles(count: int, *, seed: int, split: Split) -> list[dict]:
    """`count` articles of one split, the same for the same seed."""
    rng = random.Random(seed)
    items = []
    while len(items) < count:
        item = article(rng)
        if split_of(item["body"]) == split:
            items.append(item)
    return items


def expected_record(item: dict) -> dict:
    """The record the demo job (schema schemas.examples.news:NewsHeadlines) should write."""
    return {"city": item["city"], "country": item["country"], "headlines": item["headlines"]}


HEADLINES_TYPE = pa.list_(pa.struct([("title", pa.string()), ("topic", pa.string())]))


def write_sample(folder: str | Path, *, rows: int = 48, files: int = 3, seed: int = 0,
                 split: Split = "heldout") -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = articles(rows, seed=seed, split=split)
    paths = []
    for n in range(files):
        part = items[n::files]
        ids = [f"doc-{i:05d}" for i in range(n, rows, files)]
        table = pa.table({
            "doc_id": ids, "body": [a["body"] for a in part], "city": [a["city"] for a in part],
            "country": [a["country"] for a in part],
            "headlines": pa.array([a["headlines"] for a in part], type=HEADLINES_TYPE),
        })
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
    parser.add_argument("--split", choices=["heldout", "train"], default="heldout",
                        help="heldout (default): articles the demo model never saw in training")
    args = parser.parse_args()
    for path in write_sample(args.folder, rows=args.rows, files=args.files, seed=args.seed, split=args.split):
        print(f"wrote {path}")
