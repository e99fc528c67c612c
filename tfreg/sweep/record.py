"""What a sweep writes beside its runs: sweep.csv, the TensorBoard HParams experiment, and the
one-line report of each finished run. No TensorFlow: the HParams protos are written with
TensorBoard's own event writer."""

import csv
import io
import json
import os
import pathlib
import time

from tfreg import runs

METRICS = tuple(k for k in runs.SUMMARY_KEYS if k not in ("schema_version", "status"))
# (TensorBoard run under each run's tb/, tag, display name): the Keras TensorBoard callback writes
# train/ and validation/, tfreg's recorder writes test/.
TB_METRICS = (("test", "epoch_accuracy", "test accuracy"),
              ("validation", "epoch_accuracy", "validation accuracy"),
              ("train", "epoch_accuracy", "train accuracy"),
              ("test", "epoch_loss", "test loss"),
              ("validation", "epoch_loss", "validation loss"),
              ("train", "epoch_loss", "train loss"))


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def csv_text(planned, varied, statuses, sweep_dir):
    """One row per run: arm, seed, run_dir (relative to the sweep), each varied flag as written in
    flags.txt, status, and every summary.json value (empty where the run has none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["arm", "seed", "run_dir", *varied, "status", *METRICS])
    for run in planned:
        summary = runs.read_summary(run.dir) or {}
        status = statuses.get(run.dir) or summary.get("status") or "pending"
        flags = run.flags
        writer.writerow([run.arm, run.seed, run.dir.relative_to(pathlib.Path(sweep_dir).absolute()),
                         *(flags.get(name, "") for name in varied), status,
                         *(_cell(summary.get(k)) for k in METRICS)])
    return out.getvalue()


def write_csv(sweep_dir, planned, varied, statuses):
    runs.atomic_write(pathlib.Path(sweep_dir) / "sweep.csv",
                      csv_text(planned, varied, statuses, sweep_dir))


def run_line(run, status, minutes):
    summary = runs.read_summary(run.dir) or {}
    acc = summary.get("final_test_accuracy")
    acc = "-" if acc is None else f"{acc:.4f}"
    return f"{run.arm} seed {run.seed}: {status}, test accuracy {acc}, {minutes:.1f} min"


def _val_split(run):
    try:
        return float(run.flags.get("val_split") or 0)
    except ValueError:
        return 0.0


def write_hparams_config(sweep_dir, planned, varied):
    """The HParams experiment: the varied flags as hyper-parameters (with the values the sweep
    uses) and the test/validation/train accuracy and loss as metrics (validation only when a run
    holds out a --val_split: otherwise two empty columns), so `tensorboard --logdir SWEEP_DIR`
    lists every run with its arm's values. TensorBoard finds it in any run, and lists
    every folder with an event file as a run, so it goes into the tb/ folder of the first finished
    run (which has curves) rather than SWEEP_DIR itself (a run without any); until a run has
    finished nothing is written, and TensorBoard infers the experiment from the runs' hparams
    entries. Replaces the one an earlier invocation wrote; returns the file, or None."""
    from google.protobuf import struct_pb2
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    infos = []
    for name in varied:
        values = sorted({runs.hparam_value(run.cfg.flat()[name]) for run in planned}, key=repr)
        if all(isinstance(v, bool) for v in values):
            kind, field = api_pb2.DATA_TYPE_BOOL, "bool_value"
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            kind, field = api_pb2.DATA_TYPE_FLOAT64, "number_value"
        else:
            kind, field, values = api_pb2.DATA_TYPE_STRING, "string_value", [str(v) for v in values]
        domain = struct_pb2.ListValue(values=[struct_pb2.Value(**{field: v}) for v in values])
        infos.append(api_pb2.HParamInfo(name=name, type=kind, domain_discrete=domain))
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(group=group, tag=tag), display_name=label)
               for group, tag, label in TB_METRICS
               if group != "validation" or any(_val_split(run) > 0 for run in planned)]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics,
                                    time_created_secs=time.time())
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.EXPERIMENT_TAG, tensor=metadata.NULL_TENSOR,
                      metadata=metadata.create_summary_metadata(
                          plugin_data_pb2.HParamsPluginData(experiment=experiment)))
    sweep_dir = pathlib.Path(sweep_dir)
    home = next((run.dir / "tb" for run in planned if (run.dir / "tb").is_dir() and
                 (runs.read_summary(run.dir) or {}).get("status") in runs.FINISHED), None)
    for folder in (sweep_dir, *(run.dir / "tb" for run in planned)):
        for old in folder.glob("events.out.tfevents.*.tfreg-sweep"):
            old.unlink()
    if home is None:
        return None
    buffer = io.BytesIO()
    records = RecordWriter(buffer)  # TensorBoard's EventFileWriter would import TensorFlow
    records.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
    records.write(event_pb2.Event(wall_time=time.time(), step=0, summary=summary).SerializeToString())
    target = home / f"events.out.tfevents.{int(time.time()):010d}.tfreg-sweep"
    tmp = home / f".{target.name}.tmp"
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, target)
    return target
