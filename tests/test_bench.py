"""The `make bench` harness on a tiny setting (no timing is checked, only that it runs and what it
writes), and the benchmark's hand-written networks against tfreg's: same trainable parameters and
multiply-adds, so images/s and GFLOP/s compare the same work."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `benchmarks` is not installed; `python -m pytest` adds it, `pytest` not
    sys.path.insert(0, str(REPO))
TINY = ["--models=resnet18", "--batch_sizes=8", "--precisions=float32", "--width_multiplier=0.125",
        "--rounds=1", "--window_s=0.05", "--min_steps=1", "--warmup_steps=1", "--matmul_size=64"]


def bench(tmp_path, *args):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench", *TINY, *args, f"--out={out}",
                           f"--log_dir={tmp_path / 'logs'}"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def by_name(result):
    return {e["spec"]["name"]: e for e in result["throughput"]["entries"]}


def check_entry(e, windows=1):
    assert e["error"] is None, e["error"]
    assert len(e["windows"]) == windows
    assert all(w["work"] > 0 and w["seconds"] > 0 and w["rate"] > 0 for w in e["windows"])
    s = e["summary"]
    assert 0 < s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"]


def test_tiny_throughput_run_writes_every_part(tmp_path):
    result = bench(tmp_path, "--contenders=tfreg_none,keras", "--pipeline_batch_sizes=8")
    assert result["machine"]["cpu"]["model"] and result["machine"]["device"] == "cpu"
    t = result["throughput"]
    assert t["versions"]["tensorflow"] and t["settings"]["rounds"] == 1 and t["skipped"] == []
    named = by_name(result)
    assert set(named) == {"tf_matmul", "pipeline", "tfreg_none", "keras"}
    for e in named.values():
        check_entry(e)
    for name in ("tfreg_none", "keras"):
        e = named[name]
        assert e["info"]["multiply_adds"] > 0 and e["gflops"] > 0 and e["fraction_of_matmul_peak"] > 0
        assert e["info"]["policy"] == "float32"
    assert named["tfreg_none"]["info"]["multiply_adds"] == named["keras"]["info"]["multiply_adds"]
    assert t["param_checks"]["resnet18"]["same"]
    assert t["machine_matmul_gflops"]["float32"] > 0
    [r] = [r for r in t["ratios"] if (r["numerator"], r["denominator"]) == ("tfreg_none", "keras")]
    expected = named["tfreg_none"]["summary"]["median"] / named["keras"]["summary"]["median"]
    assert r["ratio_of_medians"] == pytest.approx(expected) and r["paired"]["n"] == 1
    [p] = t["pipeline_ratios"]
    assert p["pipeline_over_step"] == pytest.approx(
        named["pipeline"]["summary"]["median"] / named["tfreg_none"]["summary"]["median"])

    from benchmarks import table

    text = table.render(result)
    assert "tfreg / Keras" in text and "resnet18 | 8 | float32" in text


def test_torch_contender(tmp_path):
    pytest.importorskip("torch")
    result = bench(tmp_path, "--contenders=tfreg_none,torch", "--pipeline_batch_sizes=0",
                   "--rounds=2", "--torch_threads=1")  # OpenMP's 2 threads crawl on a busy machine
    named = by_name(result)
    assert set(named) == {"tf_matmul", "torch_matmul", "tfreg_none", "torch"}
    for e in named.values():
        check_entry(e, windows=2)
    assert result["throughput"]["param_checks"]["resnet18"]["same"]
    [r] = [r for r in result["throughput"]["ratios"] if r["denominator"] == "torch"]
    assert r["paired"]["n"] == 2 and r["ratio_of_medians"] > 0


def test_bad_arguments_end_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--contenders=tfreg,jax"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown contenders ['tfreg', 'jax']" in proc.stderr
    if subprocess.run(["sh", "-c", "command -v nvidia-smi"], capture_output=True).returncode:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--device=gpu",
                               f"--out={tmp_path / 'x.json'}"], cwd=REPO, capture_output=True,
                              text=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
        assert "nvidia-smi finds no GPU" in proc.stderr and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("model,width,shape", [("resnet18", 1.0, (32, 32, 3)),
                                               ("resnet50", 1.0, (32, 32, 3)),
                                               ("resnet20", 0.5, (28, 28, 1))])  # quickstart
def test_plain_keras_networks_match_tfregs(model, width, shape):
    from benchmarks import keras_resnet
    from tfreg.flags import make_config
    from tfreg.models.build import build_model
    from tfreg.train.assemble import count_params

    net = build_model(make_config(model=model, width_multiplier=width), shape, 10)
    plain = keras_resnet.resnet(model, input_shape=shape, width_multiplier=width)
    assert count_params(net) == keras_resnet.count_params(plain)
    assert keras_resnet.multiply_adds(net) == keras_resnet.multiply_adds(plain)
    assert len(plain.layers) > 20  # counted over the real layers, not a nested model
    # batch-mode stochastic depth nests each block's branch in a sub-model: still counted
    nested = build_model(make_config(model=model, width_multiplier=width, drop_path_rate=0.5,
                                     drop_path_mode="batch"), shape, 10)
    assert keras_resnet.multiply_adds(nested) == keras_resnet.multiply_adds(plain)


@pytest.mark.parametrize("model,params", [("resnet18", 11_173_962), ("resnet50", 23_520_842)])
def test_torch_networks_match_keras(model, params):
    pytest.importorskip("torch")
    from benchmarks import keras_resnet, torch_resnet

    plain, torch_net = keras_resnet.resnet(model), torch_resnet.ResNet(model)
    assert keras_resnet.count_params(plain) == torch_resnet.count_params(torch_net) == params
    assert keras_resnet.multiply_adds(plain) == torch_resnet.multiply_adds(torch_net)


def test_time_to_accuracy_takes_the_first_epoch_past_each_target_and_stops(tmp_path):
    from benchmarks import tta

    script = "; ".join(["import json, time"] + [
        f"print('@@bench ' + json.dumps({{'epoch': {e}, 'test_accuracy': {a}}}), flush=True)"
        for e, a in ((1, 0.91), (2, 0.925), (3, 0.921), (4, 0.935))] + ["time.sleep(60)"])
    result = tta.watch("keras", [sys.executable, "-c", script], [0.92, 0.93], tmp_path / "log")
    seconds = [e["seconds"] for e in result["epochs"]]
    assert result["time_to"] == {"0.92": seconds[1], "0.93": seconds[3]}
    assert result["stopped_at_last_target"] and result["exit_code"] != 0  # stopped, not waited for


def test_time_to_accuracy_reads_tfregs_history(tmp_path):
    from benchmarks import tta

    history = tmp_path / "history.csv"
    script = (f"import time; open({str(history)!r}, 'w').write("
              "'epoch,loss,test_accuracy\\n1,0.5,0.90\\n2,0.4,0.921\\n')")  # exits at once
    result = tta.watch("tfreg", [sys.executable, "-c", script], [0.92, 0.93], tmp_path / "log",
                       history=history)
    assert [e["epoch"] for e in result["epochs"]] == [1, 2]
    assert result["time_to"]["0.92"] == result["epochs"][1]["seconds"]
    assert result["time_to"]["0.93"] is None and result["exit_code"] == 0


def test_plain_keras_quickstart_refuses_a_recipe_it_does_not_reproduce(tmp_path):
    from benchmarks import keras_quickstart

    assert keras_quickstart.read_flagfile(REPO / "experiments/quickstart.flags")["epochs"]
    flagfile = tmp_path / "mixup.flags"
    flagfile.write_text((REPO / "experiments/quickstart.flags").read_text() + "--mixup_alpha=0.2\n")
    with pytest.raises(SystemExit, match="--mixup_alpha=0.2 is not reproduced"):
        keras_quickstart.read_flagfile(flagfile)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batch_norm_lever_matches_keras(policy):
    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks import fused_bn

    x = tf.constant(np.random.default_rng(0).normal(2, 3, (8, 5, 5, 6)), tf.float32)
    results = []
    try:
        keras.mixed_precision.set_global_policy(policy)
        for call in (fused_bn._ORIGINAL_CALL, fused_bn.fused_call):
            keras.layers.BatchNormalization.call = call
            layer = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
            layer.build(x.shape)
            layer.gamma.assign(np.linspace(0.5, 2, 6))
            layer.beta.assign(np.linspace(-1, 1, 6))
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.range(6, dtype=tf.float32))
            grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
            results.append((y.dtype, tf.cast(y, tf.float32).numpy(), [g.numpy() for g in grads],
                            layer.moving_mean.numpy(), layer.moving_variance.numpy()))
    finally:
        keras.layers.BatchNormalization.call = fused_bn._ORIGINAL_CALL
        keras.mixed_precision.set_global_policy("float32")
    (dtype, y, grads, mean, var), (dtype_f, y_f, grads_f, mean_f, var_f) = results
    assert dtype == dtype_f
    np.testing.assert_allclose(y_f, y, atol=1e-2 if policy == "mixed_bfloat16" else 1e-5)
    for g, g_f in zip(grads, grads_f):
        np.testing.assert_allclose(g_f, g, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mean_f, mean, rtol=1e-6)
    n = 8 * 5 * 5  # the fused kernel's moving variance takes the unbiased batch variance
    np.testing.assert_allclose(var_f - 0.9, (var - 0.9) * n / (n - 1), rtol=1e-4)


def test_contenders_that_do_not_fit_together_run_in_waves_beside_the_first(tmp_path):
    from benchmarks import bench

    specs = [dict(kind="numpy_matmul", name=f"m{i}", id=f"m{i}", precision="float32",
                  device="cpu", matmul_size=32, window_s=0.01, min_steps=1, warmup_steps=1,
                  turn_warmup_steps=1) for i in range(3)]
    entries = bench.run_group("waves", specs, rounds=2, windows_per_turn=1, log_dir=tmp_path,
                              max_per_wave=1)
    rounds = [sorted({w["round"] for w in e["windows"]}) for e in entries]
    assert rounds == [[0, 1, 2, 3], [0, 1], [2, 3]]
    assert all(e["error"] is None and e["info"]["steps_per_window"] >= 1 for e in entries)
    for e in entries:
        e["summary"] = bench.spread([w["rate"] for w in e["windows"]])
    assert bench.ratio(entries[2], entries[0])["paired"]["n"] == 2


def test_gpu_peaks_by_name():
    from benchmarks.bench import gpu_peak_tflops

    assert gpu_peak_tflops("NVIDIA H100 80GB HBM3") == 989  # SXM
    assert gpu_peak_tflops("NVIDIA H100 PCIe") == 756
    assert gpu_peak_tflops("NVIDIA A100-SXM4-80GB") == 312 and gpu_peak_tflops("NVIDIA A10") == 125
    assert gpu_peak_tflops("Tesla T4") is None  # no bfloat16 tensor cores: no fraction reported


def test_regularizer_groups_split_everything_on_and_their_cost_is_tabled():
    from benchmarks import bench, table
    from tfreg.flags import make_config

    groups = bench.REGULARIZER_GROUPS
    named = [k for keys in groups.values() for k in keys]
    assert len(named) == len(set(named))  # no flag in two groups
    step_side = {k for k in bench.EVERYTHING_ON if k in named or k == "zero_init_residual"}
    augmentation = set(bench.EVERYTHING_ON) - step_side  # acts in the input pipeline only
    assert augmentation == {"pad_crop_pixels", "flip", "random_erasing_prob", "cutout_pixels",
                            "cutout_extra_per_batch", "color_jitter", "rotation_degrees",
                            "translate_fraction", "shear_degrees", "zoom_fraction", "noise_std"}
    for name, keys in groups.items():
        flags = bench.CONTENDERS[name]["flags"]
        assert flags == {k: bench.EVERYTHING_ON[k] for k in keys}
        make_config(dataset="synthetic", model="resnet18", **flags)  # each group alone validates
        assert name in dict(bench.RATIOS) and name in table.GROUP_LABELS

    def entry(name, cpu, rate):
        return {"spec": dict(kind="tfreg", name=name, model="resnet18", batch=64, precision="float32"),
                "windows": [{"round": 0, "rate": rate, "work": 64, "seconds": 64 / rate,
                             "cpu_seconds": cpu * 64}], "info": {}}

    entries = [entry("tfreg_none", 0.040, 50.0), entry("tfreg_agc", 0.042, 48.0)]
    t = {"entries": entries, **bench.analyse(entries, {})}
    [r] = [r for r in t["ratios"] if r["numerator"] == "tfreg_agc"]
    assert r["cpu_seconds_ratio"] == pytest.approx(1.05) and r["ratio_of_medians"] == pytest.approx(0.96)
    text = "\n".join(table.throughput_section(t, {}))
    assert "| resnet18 | 64 | float32 | AGC (stages 2-3) | +5.0% | 0.96 |" in text
