"""Solves a min-cost-flow problem written by `bench_matching` with OR-Tools' SimpleMinCostFlow
and compares its objective with the one the Rust solver reported.

Usage: bench_matching_ortools.py PREFIX   (reads PREFIX.arcs and PREFIX.json)

Times adding the arcs and supplies plus solving (not reading the file), best of BENCH_REPEAT
(default 3) runs. Prints one JSON line; exits 1 if OR-Tools does not reach OPTIMAL or any
objective level or the flow cost differs. Levels 1 and 2 count coverage after the batch: the
summary's coverage before it (existing_covered, existing_covered_professions, earned by no arc)
plus the flow on the FIRST_UNIT and FIRST_OF_PROFESSION arcs.
"""

import json
import os
import sys
import time

import numpy as np
from ortools.graph.python import min_cost_flow

# Arc kinds, as in matching_solver::network::ArcKind.
FIRST_UNIT, FURTHER_UNITS, FIRST_OF_PROFESSION, FURTHER_OF_PROFESSION, PAIR, PROFESSIONAL, BYPASS = range(7)


def load(prefix):
    with open(prefix + ".arcs", "rb") as f:
        data = f.read()
    nodes, arcs, supply = np.frombuffer(data, dtype="<i8", count=3)
    offset = 24
    parts = []
    for dtype, size in (("<i4", 4), ("<i4", 4), ("<i8", 8), ("<i8", 8), ("u1", 1)):
        parts.append(np.frombuffer(data, dtype=dtype, count=int(arcs), offset=offset))
        offset += size * int(arcs)
    tails, heads, capacities, costs, kinds = (np.ascontiguousarray(p) for p in parts)
    return int(nodes), int(supply), tails.astype(np.int32), heads.astype(np.int32), \
        capacities.astype(np.int64), costs.astype(np.int64), kinds


def solve(nodes, supply, tails, heads, capacities, costs):
    start = time.perf_counter()
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, capacities, costs)
    smcf.set_node_supply(0, supply)
    smcf.set_node_supply(1, -supply)
    status = smcf.solve()
    elapsed = time.perf_counter() - start
    return smcf, status, elapsed


def main():
    prefix = sys.argv[1]
    with open(prefix + ".json") as f:
        expected = json.load(f)
    nodes, supply, tails, heads, capacities, costs, kinds = load(prefix)
    if nodes != expected["nodes"] or len(tails) != expected["arcs"]:
        sys.exit(f"{prefix}: arc file does not match its summary")
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
    best = None
    for _ in range(repeat):
        smcf, status, elapsed = solve(nodes, supply, tails, heads, capacities, costs)
        if status != min_cost_flow.SimpleMinCostFlow.OPTIMAL:
            print(f"OR-Tools status {status}", file=sys.stderr)
            sys.exit(1)
        best = elapsed if best is None else min(best, elapsed)
    flows = smcf.flows(np.arange(len(tails), dtype=np.int32))
    got = {
        "covered": expected["existing_covered"] + int(flows[kinds == FIRST_UNIT].sum()),
        "covered_professions": expected["existing_covered_professions"]
        + int(flows[kinds == FIRST_OF_PROFESSION].sum()),
        "assigned": int(flows[kinds == PAIR].sum()),
        "total_distance_m": int((flows[kinds == PAIR] * costs[kinds == PAIR]).sum()),
        "weighted_cost": int(smcf.optimal_cost()),
    }
    mismatch = {k: (expected[k], v) for k, v in got.items() if expected[k] != v}
    result = dict(got, instance=expected["instance"], ortools_seconds=round(best, 4), equal=not mismatch)
    print(json.dumps(result))
    if mismatch:
        print(f"objective differs (rust, ortools): {mismatch}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
