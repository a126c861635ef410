"""Schemas larger than the prompt (issue 26): how many real-world schemas the room check
refuses at a 4,096- and an 8,192-token context with the tool listed in full (before) and
with the compact listing (jobs/plan/prompt_room.py, schemas/compact_listing.py: after).

Every `*.json` under --schemas that k2batch's schema step loads (load, meta-schema check,
Arrow mapping, grammar form) is put in the demo job's spec as `task.schema`, with
model.max_tokens 512 (schema_coverage's real jobs), and counted with the model folder's
tokenizer as `k2batch validate` counts: before, the full listing against
max_model_len - max_tokens; after, the listing `k2batch run` would use, or its refusal.
Target: refusals at 4,096 at least halved.

python -m benchmarks.schema_room [--schemas DIR] [--quick] [--model PATH] [--json out.json]
"""

import argparse
import statistics
import time
from collections import Counter
from pathlib import Path

from benchmarks import workload
from benchmarks.schema_coverage import job_for

CONTEXTS = (4096, 8192)
TARGET_REFUSED_SHARE = 0.5  # refusals at 4,096 after / before: at most this


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", default=str(workload.ROOT.parent / "shared/schemas/jsonschemabench-sample"),
                        help="a folder of *.json schemas, one subfolder per collection")
    parser.add_argument("--model", default=None, help="the tokenizer's model folder (default: the tiny model)")
    parser.add_argument("--quick", action="store_true", help="the first 8 schemas of each collection")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    folder = Path(args.schemas)
    paths = sorted(folder.rglob("*.json")) if folder.is_dir() else []
    if not paths:
        print(f"no *.json under {folder}: nothing measured")
        workload.write_results(args.json, {"skipped": f"no *.json under {folder}"})
        return
    if args.quick:
        by_collection: dict[str, list[Path]] = {}
        for path in paths:
            by_collection.setdefault(path.parent.name, []).append(path)
        paths = [p for found in by_collection.values() for p in found[:8]]
    source = workload.model_source(args.model)
    started = time.monotonic()
    outcomes = [measure(path, source) for path in paths]
    loaded = [o for o in outcomes if o["loaded"]]
    results = {"schemas_dir": str(folder), "schemas": len(outcomes), "loaded": len(loaded), "max_tokens": 512,
               "tokenizer": args.model or "the tiny model's (a 512-token byte-level BPE)",
               "target_refused_share": TARGET_REFUSED_SHARE, "seconds": time.monotonic() - started, "contexts": {}}
    for context in CONTEXTS:
        rows = [o["contexts"][context] for o in loaded]
        compacted = [r for r in rows if r["compacted"]]
        results["contexts"][str(context)] = {
            "refused_before": sum(r["refused_before"] for r in rows),
            "refused_after": sum(r["refused_after"] for r in rows),
            "compacted": len(compacted),
            "all_descriptions_kept": sum(r["descriptions_kept"] == r["descriptions"] for r in compacted),
            "outlined": sum(r["outlined"] for r in compacted),
            "median_full_tokens_of_compacted": statistics.median([r["full_tokens"] for r in compacted]) if compacted else None,
            "median_listed_tokens_of_compacted": (statistics.median([r["listed_tokens"] for r in compacted])
                                                  if compacted else None),
            "refused_after_by_collection": dict(Counter(o["collection"] for o in loaded
                                                        if o["contexts"][context]["refused_after"])),
        }
    # what this tokenizer spends on a schema's JSON: K2's 32,000-token vocabulary spends fewer tokens
    firsts = [o["contexts"][CONTEXTS[0]] for o in loaded]
    results["chars_per_token"] = sum(r["full_chars"] for r in firsts) / sum(r["full_tokens"] for r in firsts)
    four = results["contexts"]["4096"]
    results["refused_share_4096"] = four["refused_after"] / four["refused_before"] if four["refused_before"] else 0.0
    workload.write_results(args.json, results)
    print(f"{len(outcomes)} schemas, {len(loaded)} loaded by k2batch's schema step; tokenizer: {results['tokenizer']}")
    for context, r in results["contexts"].items():
        print(f"context {context}: refused for room {r['refused_before']} before, {r['refused_after']} after; "
              f"{r['compacted']} listed compactly ({r['all_descriptions_kept']} with every description, "
              f"{r['outlined']} outlined)")
    print(f"refused at 4096 after / before = {results['refused_share_4096']:.2f} (target at most {TARGET_REFUSED_SHARE})")


def measure(path: Path, source: str) -> dict:
    """One schema at each context: refused before and after, and the listing's size."""
    from jobs.plan.prompt_room import _counter, _room, _used, listed_prompt, system_prompt_for
    from jobs.spec import JobSpecError
    from schemas.compact_listing import CompactListing
    from schemas.record_schema import SchemaLoadError, load_record_schema
    from schemas.schema_error import UnsupportedSchemaError

    outcome = {"path": str(path), "collection": path.parent.name, "loaded": False, "contexts": {}}
    try:
        schema = load_record_schema(str(path))
        schema.arrow_schema  # noqa: B018 - the schema step refuses here
        schema.listing_parameters  # noqa: B018
    except (SchemaLoadError, UnsupportedSchemaError, RecursionError):
        return outcome
    outcome["loaded"] = True
    count = _counter(source)
    base = job_for(path, source)
    for context in CONTEXTS:
        spec = base.model_copy(update={"model": base.model.model_copy(update={"max_model_len": context})})
        full_prompt = system_prompt_for(spec, schema)
        full = _used(spec, full_prompt, count)
        row = {"full_tokens": full, "full_chars": len(full_prompt), "refused_before": full > _room(spec), "compacted": False, "refused_after": False,
               "descriptions": CompactListing(schema.listing_parameters).descriptions}
        try:
            listed = listed_prompt(spec, schema, source)
        except JobSpecError:
            row["refused_after"] = True
        else:
            outlined = _outlined(listed.left_out)
            row.update(compacted=listed.left_out is not None, listed_tokens=_used(spec, listed.system_prompt, count),
                       outlined=outlined, descriptions_kept=0 if outlined else row["descriptions"] - _dropped(listed.left_out))
        outcome["contexts"][context] = row
    return outcome


def _outlined(left_out: str | None) -> bool:
    """Whether a listing is an outline (schemas/compact_listing.py), from its own words."""
    return bool(left_out) and left_out.startswith("every description and annotation; the structure below")


def _dropped(left_out: str | None) -> int:
    """How many descriptions a listing left out, from its own words ("N of M descriptions")."""
    if not left_out or " descriptions (" not in left_out:
        return 0
    return int(left_out.rsplit("; ", 1)[-1].split(" of ")[0])


if __name__ == "__main__":
    main()
