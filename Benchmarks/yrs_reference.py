#!/usr/bin/env python3
"""The Yrs reference for `cvpeer-bench replication`: Yjs' Rust core through pycrdt.

Does workloads (a) and (b) of Sources/cvpeer-bench/ReplicationWorkloads.swift as faithfully
as Yjs allows, with the very same edits: both draw them from SplitMix64 streams with the same
seeds and make the same decisions in the same order. One workload per process, so the peak
memory (ru_maxrss) is that workload's; prints one JSON object on stdout.

    python3 Benchmarks/yrs_reference.py --probe            # {"pycrdt": version} or {"skipped": why}
    python3 Benchmarks/yrs_reference.py --workload a|b [--quick]

(a) doc A appends 100,000 mark records {x, y, colour, author} to a Y.Array in transactions of
    256; its state is encoded as one update and applied to an empty doc B. `create_s` includes
    CPython's overhead of one pycrdt call per mark; `transfer_s` (encode + apply) is pure Rust.
(b) after a shared set-up (16 items as Y.Maps, 2 profiles), docs A and B each make 50,000 edits
    without hearing from the other (45% marks set in a Y.Map under their id, 25% item fields set
    on the shared Y.Maps, 20% viewports set in a Y.Map, 10% chat records appended to a Y.Array),
    in transactions of 256; then they exchange state vectors and diff updates and apply them.

    Marks go in a Y.Map keyed by mark id, as cvpeer keeps them (an add/remove set by id), not in
    a Y.Array: appends to a Y.Array interleaved with other edits do not merge into one block, and
    Yrs finds the end of an array by walking its blocks from the start, so 22,500 interleaved
    appends per replica make (b)'s edits quadratic (8.7 s instead of 0.85 s when this was
    written). The Y.Map layout is the one a Yjs developer would pick for this workload; (a)'s
    marks, appended one after another, merge into few blocks and stay in a Y.Array.

Yrs neither signs, verifies, encrypts nor decrypts anything, and validates no edit: cvpeer does
all of that in the same workloads.
"""

import argparse
import json
import resource
import sys
import time

MASK = (1 << 64) - 1
BATCH = 256  # operations per transaction, as cvpeer's operations per batch
SHARED_ITEMS = 16  # 8 notes, then 8 product cards
PALETTE = [
    0xE63232FF, 0x32A852FF, 0x2F6FE6FF, 0xF2C21BFF, 0x8E44ADFF, 0x1ABC9CFF, 0x333333FF, 0xFF8C00FF,
]
SCALE = 1_000_000  # coordinates in millionths, as cvpeer's UnitPoint
WALL_START = 1_750_000_000_000
MARK_SEED, SEED_A, SEED_B = 1, 0xA, 0xB
CLIENT_A, CLIENT_B = 1, 2


def peak_kib():
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage // 1024 if sys.platform == "darwin" else usage


class SplitMix64:
    """The same generator as the Swift side's, bit for bit."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound):
        return self.next() % bound

    def coordinate(self):
        return self.below(SCALE + 1)


def workload_a(count):
    from pycrdt import Array, Doc

    rng = SplitMix64(MARK_SEED)
    records = []
    for _ in range(count):
        x = rng.coordinate()
        y = rng.coordinate()
        colour = PALETTE[rng.below(len(PALETTE))]
        records.append({"x": x, "y": y, "colour": colour, "author": CLIENT_A})
    baseline = peak_kib()

    doc_a = Doc(client_id=CLIENT_A)
    marks_a = doc_a.get("marks", type=Array)
    start = time.perf_counter()
    for first in range(0, count, BATCH):
        with doc_a.transaction():
            for record in records[first:first + BATCH]:
                marks_a.append(record)
    created = time.perf_counter()
    update = doc_a.get_update()  # the whole state as one update
    encoded = time.perf_counter()
    doc_b = Doc(client_id=CLIENT_B)
    doc_b.apply_update(update)
    applied = time.perf_counter()
    peak = peak_kib()

    marks_b = doc_b.get("marks", type=Array)
    equal = doc_a.get_state() == doc_b.get_state() and marks_a.to_py() == marks_b.to_py() and len(marks_b) == count
    return {
        "ops": count,
        "create_s": created - start,
        "encode_s": encoded - created,
        "apply_s": applied - encoded,
        "transfer_s": applied - created,
        "total_s": applied - start,
        "update_bytes": len(update),
        "peak_kib": peak,
        "baseline_kib": baseline,
        "equal": equal,
    }


def mixed_script(count, seed, client, name):
    """One replica's edits, decided exactly as ReplicationWorkloads.mixedScript decides them.

    Each edit is (kind, target, key, value): 0 set a mark under its id, 1 set an item field,
    2 set a viewport, 3 append a chat message. Item fields get the same values as cvpeer's;
    a price is an object, as cvpeer's Price.
    """
    rng = SplitMix64(seed)
    edits = []
    for serial in range(count):
        kind = rng.below(100)
        if kind < 45:
            item = rng.below(SHARED_ITEMS)
            shape_roll = rng.below(10)
            point_count = 1 if shape_roll < 7 else 2 if shape_roll < 9 else 8
            points = []
            for _ in range(point_count):
                x = rng.coordinate()
                y = rng.coordinate()
                points += [x, y]
            colour = PALETTE[rng.below(len(PALETTE))]
            shape = "pin" if point_count == 1 else "arrow" if point_count == 2 else "stroke"
            mark = {"item": item, "shape": shape, "points": points, "colour": colour, "author": client}
            edits.append((0, None, f"{client}-{serial}", mark))
        elif kind < 70:
            index = rng.below(SHARED_ITEMS)
            field_roll = rng.below(10)
            if field_roll < 4:
                key, value = "title", f"Title {serial} by {name}"
            elif field_roll >= 8 and index >= SHARED_ITEMS // 2:
                key, value = "price", {"currency": "EUR", "minorUnits": 100 + rng.below(100_000)}
            else:
                key, value = "text", f"Note {serial} by {name}: the blue one suits the room better"
            edits.append((1, index, key, value))
        elif kind < 90:
            index = rng.below(SHARED_ITEMS)
            zoom = 250 + rng.below(8_000)
            x = rng.coordinate()
            y = rng.coordinate()
            edits.append((2, None, f"{client}/{index}", {"zoom": zoom, "x": x, "y": y}))
        else:
            message = {"author": client, "text": f"Message {serial} from {name}", "time": WALL_START + serial}
            edits.append((3, None, None, message))
    return edits


def roots(doc):
    from pycrdt import Array, Map

    return {
        "participants": doc.get("participants", type=Map),
        "items": doc.get("items", type=Map),
        "marks": doc.get("marks", type=Map),
        "viewports": doc.get("viewports", type=Map),
        "chat": doc.get("chat", type=Array),
    }


def run_script(doc, shared, edits):
    """Makes the edits in transactions of BATCH, one pycrdt call each."""
    marks, viewports, chat = shared["marks"], shared["viewports"], shared["chat"]
    items = [shared["items"][f"item{index}"] for index in range(SHARED_ITEMS)]
    for first in range(0, len(edits), BATCH):
        with doc.transaction():
            for kind, target, key, value in edits[first:first + BATCH]:
                if kind == 0:
                    marks[key] = value
                elif kind == 1:
                    items[target][key] = value
                elif kind == 2:
                    viewports[key] = value
                else:
                    chat.append(value)


def workload_b(count):
    from pycrdt import Doc, Map

    doc_a = Doc(client_id=CLIENT_A)
    doc_b = Doc(client_id=CLIENT_B)
    shared_a = roots(doc_a)
    shared_b = roots(doc_b)
    # The shared set-up, as cvpeer's: A's profile and items, B's profile, exchanged. Not timed.
    with doc_a.transaction():
        shared_a["participants"][str(CLIENT_A)] = {"name": "Agent A", "role": "agent"}
        for index in range(SHARED_ITEMS):
            if index < SHARED_ITEMS // 2:
                fields = {"kind": "note", "title": f"Note {index}", "text": f"Shared note {index}"}
            else:
                fields = {
                    "kind": "productCard",
                    "title": f"Product {index}",
                    "text": f"Description of product {index}",
                    "price": {"currency": "EUR", "minorUnits": 1_999 + index},
                    "url": f"https://shop.example/p/{index}",
                }
            shared_a["items"][f"item{index}"] = Map(fields)
    with doc_b.transaction():
        shared_b["participants"][str(CLIENT_B)] = {"name": "Customer B", "role": "customer"}
    doc_b.apply_update(doc_a.get_update(doc_b.get_state()))
    doc_a.apply_update(doc_b.get_update(doc_a.get_state()))

    edits_a = mixed_script(count, SEED_A, CLIENT_A, "A")
    edits_b = mixed_script(count, SEED_B, CLIENT_B, "B")
    baseline = peak_kib()

    start = time.perf_counter()
    run_script(doc_a, shared_a, edits_a)
    run_script(doc_b, shared_b, edits_b)
    edited = time.perf_counter()
    state_a = doc_a.get_state()
    state_b = doc_b.get_state()
    update_for_b = doc_a.get_update(state_b)
    update_for_a = doc_b.get_update(state_a)
    doc_b.apply_update(update_for_b)
    doc_a.apply_update(update_for_a)
    synced = time.perf_counter()
    peak = peak_kib()

    equal = doc_a.get_state() == doc_b.get_state() and all(
        shared_a[name].to_py() == shared_b[name].to_py() for name in shared_a
    )
    return {
        "ops": 2 * count,
        "edit_s": edited - start,
        "sync_s": synced - edited,
        "total_s": synced - start,
        "sync_bytes": len(update_for_a) + len(update_for_b),
        "peak_kib": peak,
        "baseline_kib": baseline,
        "equal": equal,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="store_true", help="report whether pycrdt imports, and its version")
    parser.add_argument("--workload", choices=["a", "b"])
    parser.add_argument("--quick", action="store_true", help="10x smaller workloads (a smoke run)")
    arguments = parser.parse_args()
    try:
        import pycrdt  # noqa: F401
        from importlib.metadata import version
    except ImportError:
        print(json.dumps({"skipped": "pycrdt is not installed (python3 -m pip install pycrdt)"}))
        return
    if arguments.probe or arguments.workload is None:
        print(json.dumps({"pycrdt": version("pycrdt"), "python": sys.version.split()[0]}))
        return
    scale = 10 if arguments.quick else 1
    if arguments.workload == "a":
        result = workload_a(100_000 // scale)
    else:
        result = workload_b(50_000 // scale)
    result["workload"] = arguments.workload
    result["pycrdt"] = version("pycrdt")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
