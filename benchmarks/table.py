"""Writes benchmarks/README.md's results section from benchmarks/results/*.json.

    python -m benchmarks.table [--results benchmarks/results] [--readme benchmarks/README.md]

Everything between the `<!-- results:begin -->` and `<!-- results:end -->` lines is replaced; one
section per results file of benchmarks.bench (other scripts' JSON files are skipped).
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
LABELS = {"tfreg_none": "tfreg, none", "tfreg_fused_bn": "tfreg, fused BN", "tfreg_keras_bn": "tfreg, Keras BN", "tfreg_all": "tfreg, all on",
          "tfreg_droppath": "tfreg, drop-path 0.5 batch", "keras": "Keras fit",
          "torch": "PyTorch eager", "torch_compile": "PyTorch compile"}
RATIO_LABELS = {("tfreg_none", "torch"): "tfreg / PyTorch", ("tfreg_none", "keras"): "tfreg / Keras",
                ("tfreg_fused_bn", "torch"): "tfreg fused BN / PyTorch",
                ("tfreg_fused_bn", "tfreg_none"): "fused BN / Keras BN",
                ("tfreg_keras_bn", "torch"): "tfreg Keras BN / PyTorch",
                ("tfreg_none", "tfreg_keras_bn"): "default (fused BN) / Keras BN",
                ("keras", "torch"): "Keras / PyTorch",
                ("tfreg_none", "torch_compile"): "tfreg / PyTorch compile",
                ("tfreg_all", "tfreg_none"): "all on / none",
                ("tfreg_droppath", "tfreg_none"): "drop-path / none"}
# bench.REGULARIZER_GROUPS, shown in their own table of CPU work against tfreg_none
GROUP_LABELS = {"tfreg_all": "all on", "tfreg_mix": "mixup + cutmix per example",
                "tfreg_dropout": "dropout (stages, blocks, head)",
                "tfreg_drop_path_sample": "drop-path 0.2 per sample", "tfreg_agc": "AGC (stages 2-3)",
                "tfreg_loss_decay": "label smoothing + decoupled decay + warm-up"}


def g(x, digits=3):
    return "" if x is None else f"{x:.{digits}g}"


def rows_by_group(entries):
    groups = {}
    for e in entries:
        s = e["spec"]
        if s["kind"] in ("tfreg", "keras", "torch"):
            groups.setdefault((s["model"], s["batch"], s["precision"]), {})[s["name"]] = e
    return groups


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return lines


def throughput_section(t, machine):
    out = []
    groups = rows_by_group(t["entries"])
    names = [n for n in LABELS if any(n in g_ for g_ in groups.values())]
    windows = {len(e["windows"]) for e in t["entries"] if e["windows"]}
    out += ["", f"Training step, images/s: median (min-max) over {'/'.join(map(str, sorted(windows)))} "
            "timed windows per contender", ""]
    rows = []
    for (model, batch, precision), named in groups.items():
        cells = []
        for n in names:
            e = named.get(n)
            s = e and e.get("summary")
            cells.append(f"{g(s['median'])} ({g(s['min'])}-{g(s['max'])})" if s else
                         ("failed" if e and e.get("error") else ""))
        rows.append([model, batch, precision, *cells])
    out += table(["model", "batch", "precision", *(LABELS[n] for n in names)], rows)

    pairs = [p for p in RATIO_LABELS if any((r["numerator"], r["denominator"]) == p for r in t["ratios"])]
    if pairs:
        out += ["", "Ratios of medians (paired per-round ratios, min-max)", ""]
        found = {(r["model"], r["batch"], r["precision"], r["numerator"], r["denominator"]): r
                 for r in t["ratios"]}
        rows = []
        for key in groups:
            cells = []
            for p in pairs:
                r = found.get((*key, *p))
                paired = r and r["paired"]
                cells.append("" if not r else f"{r['ratio_of_medians']:.2f}" + (
                    f" ({paired['min']:.2f}-{paired['max']:.2f})" if paired else ""))
            rows.append([*key, *cells])
        out += table(["model", "batch", "precision", *(RATIO_LABELS[p] for p in pairs)], rows)

    costs = [r for r in t["ratios"] if r["denominator"] == "tfreg_none"
             and r["numerator"] in GROUP_LABELS and r.get("cpu_seconds_ratio")]
    if costs:
        out += ["", "What each regularizer costs: CPU seconds per image against tfreg with none "
                "(median windows; +x% = more work per image), and the wall-clock ratio of medians", ""]
        out += table(["model", "batch", "precision", "regularizers", "CPU per image", "images/s ratio"],
                     [[r["model"], r["batch"], r["precision"], GROUP_LABELS[r["numerator"]],
                       f"{100 * (r['cpu_seconds_ratio'] - 1):+.1f}%", f"{r['ratio_of_medians']:.2f}"]
                      for r in costs])

    gpu = machine.get("gpu_bf16_peak_tflops")
    out += ["", "Effective GFLOP/s (conv + dense multiply-adds x 2 x 3 x images/s) and its share of "
            "the machine's matrix-multiply rate" + (f" / of the GPU's {gpu} TFLOP/s bfloat16 peak" if gpu else ""), ""]
    rows = []
    for key, named in groups.items():
        cells = []
        for n in names:
            e = named.get(n)
            if not e or "gflops" not in e:
                cells.append("")
                continue
            share = e.get("fraction_of_matmul_peak")
            extra = f" / {100 * e['fraction_of_gpu_bf16_peak']:.1f}%" if e.get("fraction_of_gpu_bf16_peak") else ""
            cells.append(f"{g(e['gflops'])} ({'' if share is None else f'{100 * share:.0f}%'}{extra})")
        rows.append([*key, *cells])
    out += table(["model", "batch", "precision", *(LABELS[n] for n in names)], rows)

    mm = t.get("matmul_gflops", {})
    if mm:
        out += ["", "Matrix multiply, GFLOP/s (median)", ""]
        out += table(["precision", "TensorFlow", "PyTorch"],
                     [[p, g(v.get("tf_matmul")), g(v.get("torch_matmul"))] for p, v in mm.items()])
    pipes = [e for e in t["entries"] if e["spec"]["kind"] == "pipeline" and e.get("summary")]
    if pipes:
        out += ["", "Input pipeline alone (full augmentation chain) against the fastest tfreg step "
                "at the same batch", ""]
        rows = []
        for p in pipes:
            b = p["spec"]["batch"]
            ratios = [r["pipeline_over_step"] for r in t["pipeline_ratios"] if r["batch"] == b]
            rows.append([b, f"{g(p['summary']['median'], 4)}", g(min(ratios)) + "x" if ratios else ""])
        out += table(["batch", "pipeline images/s", "pipeline / step (lowest)"], rows)
    if t.get("bfloat16_speedups"):
        out += ["", "bfloat16 over float32 (medians; separate groups, not interleaved)", ""]
        out += table(["model", "batch", "contender", "speed-up"],
                     [[s["model"], s["batch"], LABELS.get(s["contender"], s["contender"]),
                       f"{s['bfloat16_over_float32']:.2f}"] for s in t["bfloat16_speedups"]])
    bad = {m: c["params"] for m, c in t.get("param_checks", {}).items() if not c["same"]}
    if bad:
        out += ["", f"Parameter counts differ between contenders: {bad}"]
    return out


def tta_section(t):
    out = ["", f"Time to test accuracy, seconds from process start ({t['flagfile']}, "
           f"{t['epochs']} epochs, cosine over them)", ""]
    rows = []
    for contender, per_target in t["seconds_to_target"].items():
        rows.append([contender, *(", ".join(f"{s:.0f}" for s in v) or "not reached"
                                  for v in per_target.values())])
    targets = [f"{100 * float(k):g}%" for k in next(iter(t["seconds_to_target"].values()), {})]
    return out + table(["", *targets], rows)


def render(data):
    m = data["machine"]
    name = m.get("gpu") or m["cpu"]["model"]
    out = [f"### {name}", ""]
    for suite in ("throughput", "tta"):
        t = data.get(suite)
        if not t:
            continue
        v = t["versions"]
        out.append(f"{suite}: `{t['command']}`, {t['started']}, {t['duration_s']:.0f} s; CPU "
                   f"{m['cpu']['model']}, {m['cpu']['cores']} cores, flags {', '.join(m['cpu']['flags'])}; "
                   f"load average {t['loadavg_start'][0]:.1f} at start, {t['loadavg_end'][0]:.1f} at end; "
                   f"tfreg {v.get('git')}, TensorFlow {v.get('tensorflow')}, Keras {v.get('keras')}, "
                   f"PyTorch {v.get('torch')}" + (f"; note: {t['note']}" if t.get("note") else ""))
        out += throughput_section(t, m) if suite == "throughput" else tta_section(t)
        out.append("")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--results", default=str(HERE / "results"))
    p.add_argument("--readme", default=str(HERE / "README.md"))
    args = p.parse_args(argv)
    results = [json.loads(f.read_text()) for f in sorted(Path(args.results).glob("*.json"))]
    # benchmarks.bench's files; profile_bf16's levers and iterator_stall's have their own sections
    sections = [render(data) for data in results if "machine" in data]
    readme = Path(args.readme)
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"table: error: {readme} has no {BEGIN} ... {END} section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = "\n\n".join(sections) or "No results yet: run `make bench` on a quiet machine."
    readme.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    print(f"wrote {len(sections)} machine section(s) into {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
