"""`python -m bench.load.report FILE.json...`: the rows of load results as a Markdown table."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def markdown(docs: list[dict]) -> str:
    head = ("target", "store x procs", "N", "connected", "p50 ms", "p95 ms", "p99 ms",
            "ack p50 ms", "timer p99 ms", "msgs/s in/out", "server CPU %", "KiB/tablet",
            "lost/unacked", "gen CPU %", "server waits for CPU %")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for doc in docs:
        for r in doc["rows"]:
            g, s = r["stroke_to_guess_ms"], r["server"]
            main = next((p for p in s.get("per_process", {}).values()
                         if "server" in p.get("cmd", "") or "baseline" in p.get("cmd", "")), {})
            lines.append("| " + " | ".join(str(x) for x in (
                r["target"], f"{r['store']} x{r['server_processes']}", r["children"],
                r["connected_at_steady_end"], g["p50"], g["p95"], g["p99"],
                r.get("stroke_to_ack_ms", {}).get("p50"), r["timer_lateness_ms"]["p99"],
                f"{r['msgs_per_s']['to_server']:.0f}/{r['msgs_per_s']['from_server']:.0f}",
                s["cpu_percent_of_one_core"], s["kib_per_tablet_growth"],
                f"{r['strokes']['lost']}/{r['strokes']['unacked']}",
                r["generator"]["cpu_percent_of_one_core"],
                main.get("waiting_for_cpu_percent"))) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    docs = [json.loads(Path(p).read_text()) for p in argv]
    print(markdown(docs))
    for doc in docs:
        print(f"\n{doc['date_utc']}: `{doc['command']}`; model {doc.get('model_names')}; "
              f"by bound {json.dumps(doc.get('max_children_by_p99_bound'))}; "
              f"other load {doc.get('other_load_before')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
