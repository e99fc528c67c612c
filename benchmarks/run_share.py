"""The share of each committed study run's wall time spent in its epochs (issue 27's target: at
least 80% for a mini run), read from the runs' summary.json files, not measured anew.

    .venv/bin/python -m benchmarks.run_share [reports/<study>/runs ...]

Share = summary.json's `train_time_s` (the sum of the epochs' times: training steps, first-step
tracing, validation passes) / `timings.process_s` (the process's time from its start to the
summary; `wall_time_s` where a run predates the timings block). The runs ran as their sweeps ran
them (two at a time on 2 cores, often beside other work), so both terms carry that load. Prints
a Markdown table: runs, median share with min-max, median process and epoch seconds, per folder.
"""

import argparse
import glob
import statistics

from tfreg import runs  # no TensorFlow import


def shares(folder):
    out = []
    for run_dir in runs.find_runs(folder):
        s = runs.read_summary(run_dir) or {}
        if s.get("status") not in ("completed", "stopped_early"):
            continue
        total = (s.get("timings") or {}).get("process_s") or s.get("wall_time_s")
        if total:
            out.append((s["train_time_s"] / total, total, s["train_time_s"]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", default=sorted(glob.glob("reports/*/runs")))
    args = parser.parse_args()
    print("| runs | n | share in epochs, median (min-max) | process s, median | epochs s, median |")
    print("|---|---|---|---|---|")
    for folder in args.folders:
        rows = shares(folder)
        if not rows:
            continue
        share = [r[0] for r in rows]
        print(f"| {folder} | {len(rows)} | {statistics.median(share):.1%} ({min(share):.1%}-"
              f"{max(share):.1%}) | {statistics.median(r[1] for r in rows):.0f} | "
              f"{statistics.median(r[2] for r in rows):.0f} |")


if __name__ == "__main__":
    main()
