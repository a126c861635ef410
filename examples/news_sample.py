"""Write the demo's input: synthetic news articles as Parquet, a few files of rows.

python -m examples.news_sample data/news --rows 48 --files 3

Each article is a few wire items "{city}, {country}: {headline}.", so the record the
demo job should extract (city, country, headlines with their topics) is fully
determined by the text: the files carry it as columns, which makes them a gold set
for `k2batch eval`. The demo model is trained on the same generator
(jobs/devtools/train_testmodel.py), but only on the "train" split: every possible article falls
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

# Sixty places and fifteen events make 60 x 575 possible articles: too many for the tiny
# demo model to memorize from a few thousand examples, so it has to learn to copy the
# place from the text (with twenty places and five events it memorized the pairs and
# got held-out cities wrong).
PLACES = [
    ("Lyon", "France"), ("Osaka", "Japan"), ("Porto", "Portugal"), ("Cusco", "Peru"), ("Leeds", "United Kingdom"),
    ("Gdansk", "Poland"), ("Mombasa", "Kenya"), ("Hobart", "Australia"), ("Tampere", "Finland"), ("Recife", "Brazil"),
    ("Bergen", "Norway"), ("Graz", "Austria"), ("Cork", "Ireland"), ("Sevilla", "Spain"), ("Quebec", "Canada"),
    ("Daegu", "South Korea"), ("Tucson", "United States"), ("Leipzig", "Germany"), ("Rosario", "Argentina"),
    ("Durban", "South Africa"), ("Marseille", "France"), ("Sapporo", "Japan"), ("Braga", "Portugal"), ("Arequipa", "Peru"),
    ("Glasgow", "United Kingdom"), ("Krakow", "Poland"), ("Kisumu", "Kenya"), ("Perth", "Australia"), ("Turku", "Finland"),
    ("Manaus", "Brazil"), ("Tromso", "Norway"), ("Linz", "Austria"), ("Galway", "Ireland"), ("Bilbao", "Spain"),
    ("Calgary", "Canada"), ("Busan", "South Korea"), ("Denver", "United States"), ("Bremen", "Germany"),
    ("Mendoza", "Argentina"), ("Pretoria", "South Africa"), ("Bologna", "Italy"), ("Utrecht", "Netherlands"),
    ("Ghent", "Belgium"), ("Malmo", "Sweden"), ("Aarhus", "Denmark"), ("Brno", "Czechia"), ("Pecs", "Hungary"),
    ("Cluj", "Romania"), ("Varna", "Bulgaria"), ("Split", "Croatia"), ("Izmir", "Turkey"), ("Haifa", "Israel"),
    ("Tangier", "Morocco"), ("Kumasi", "Ghana"), ("Arusha", "Tanzania"), ("Pune", "India"), ("Chiang Mai", "Thailand"),
    ("Cebu", "Philippines"), ("Medan", "Indonesia"), ("Dunedin", "New Zealand"),
]
EVENTS = [
    ("politics", "City council approves new budget"), ("politics", "Mayor calls early election"),
    ("politics", "Regional parliament passes housing law"),
    ("business", "Local port reports record cargo"), ("business", "Car maker opens new plant"),
    ("business", "Bank cuts lending rates"),
    ("science", "University team maps coastal currents"), ("science", "Observatory spots distant comet"),
    ("science", "Lab grows drought resistant wheat"),
    ("sports", "Home side wins the regional final"), ("sports", "Marathon draws record crowd"),
    ("sports", "Young swimmer breaks national record"),
    ("culture", "Old theatre reopens after restoration"), ("culture", "Film festival announces winners"),
    ("culture", "Museum shows lost paintings"),
]
Split = Literal["train", "heldout"]
HELDOUT_SHARE = 5  # one article text in five belongs to the held-out split


def article(rng: random.Random) -> dict:
    """One article and the record it implies: `headlines` are {title, topic} in text order."""
    city, country = rng.choice(PLACES)
    # Events keep EVENTS' order: the record stays determined by the text, and a tiny model
    # need not learn to follow sentence order (it did not, in 500 steps).
    events = [EVENTS[i] for i in sorted(rng.sample(range(len(EVENTS)), k=rng.randint(1, 3)))]
    # A dateline opens each item ("Lyon, France: ..."), as on a wire: the place starts
    # every sentence, where the tiny model learned to copy it reliably; at the end of
    # the sentence ("... in Lyon, France.") it copied the country but not the city.
    sentences = [f"{city}, {country}: {title}." for _, title in events]
    return {
        "city": city, "country": country, "body": " ".join(sentences),
        "headlines": [{"title": title, "topic": topic} for topic, title in events],
    }


def split_of(body: str) -> Split:
    """Stable across runs and machines (not Python's salted hash())."""
    digest = hashlib.sha256(body.encode()).digest()
    return "heldout" if digest[0] % HELDOUT_SHARE == 0 else "train"


def articles(count: int, *, seed: int, split: Split | None, invented_share: float = 0.0,
             mismatched_share: float = 0.0, unique: bool = False) -> list[dict]:
    """`count` articles of one split (None: either), the same for the same seed. Shares of
    them may be datelined from invented places or from a real city with another real
    country (training only: see with_invented_place and with_mismatched_place).
    `unique`: no text twice (the generator repeats a few otherwise)."""
    rng = random.Random(seed)
    items = []
    seen: set[str] = set()
    while len(items) < count:
        item = article(rng)
        draw = rng.random() if invented_share or mismatched_share else 1.0
        if draw < invented_share:
            item = with_invented_place(item, rng)
        elif draw < invented_share + mismatched_share:
            item = with_mismatched_place(item, rng)
        if (split is None or split_of(item["body"]) == split) and not (unique and item["body"] in seen):
            items.append(item)
            seen.add(item["body"])
    return items


SYLLABLES = ["ka", "lo", "mi", "ter", "van", "sul", "dor", "pe", "ri", "no", "bel", "mar", "tos", "gu", "fen", "zar",
             "qui", "lan", "sor", "vi"]


def with_invented_place(item: dict, rng: random.Random) -> dict:
    """The same article datelined from a made-up city and country ("Marsordor, Novan").
    Mixed into the demo model's training, names it cannot have memorized teach it to
    copy the place from the text rather than recall a pair it has seen (held-out cities
    right: 38 of 40 with none invented; docs/demo-model.md)."""
    return _datelined(item, _invented_name(rng, rng.randint(2, 3)), _invented_name(rng, rng.randint(2, 3)))


def with_mismatched_place(item: dict, rng: random.Random) -> dict:
    """The same article datelined from a real city and a real country drawn apart
    ("Linz, Japan"). The country then says nothing about the city, so the model must copy
    real city names from the text too; trained only on true pairs and invented names, it
    recalled a city of the right country instead (Linz written as Graz, Osaka as Sapporo)."""
    return _datelined(item, rng.choice(PLACES)[0], rng.choice(PLACES)[1])


def _datelined(item: dict, city: str, country: str) -> dict:
    body = item["body"].replace(f"{item['city']}, {item['country']}: ", f"{city}, {country}: ")
    return {**item, "city": city, "country": country, "body": body}


def _invented_name(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


def expected_record(item: dict) -> dict:
    """The record the demo job (schema schemas.examples.news:NewsHeadlines) should write."""
    return {"city": item["city"], "country": item["country"], "headlines": item["headlines"]}


HEADLINES_TYPE = pa.list_(pa.struct([("title", pa.string()), ("topic", pa.string())]))


def write_sample(folder: str | Path, *, rows: int = 48, files: int = 3, seed: int = 0,
                 split: Split | None = "heldout", unique: bool = False) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = articles(rows, seed=seed, split=split, unique=unique)
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
