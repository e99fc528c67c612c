"""The command line: flag parsing, validation, one-line errors, --dry_run, --helpfull."""

import json
import os

import pytest

from tfreg import config, flags as tfreg_flags, runs
from conftest import tf_noise_free

BAD_INPUTS = [
    (["--norm=bogus"], "--norm", "batch|group|layer|instance|none"),
    (["--model=resnet9"], "--model", "resnet18"),
    (["--epochs=0"], "--epochs", "> 0"),
    (["--dropout_rates=0.1,x"], "--dropout_rates", "rates in [0, 1)"),
    (["--dropout_rates=1.5"], "--dropout_rates", "rates in [0, 1)"),
    (["--model=resnet20", "--dropout_rates=0.1,0.1,0.1,0.1"], "--dropout_rates", "at most 3"),
    (["--model=resnet20", "--block_dropout_rates=0.1,0.1,0.1"], "--block_dropout_rates", "at most 2"),
    (["--model=resnet20", "--norm_stages=4"], "--norm_stages", "1..3"),
    (["--norm=none", "--norm_stages=1"], "--norm_stages", "--norm other than none"),
    (["--lr_schedule=step"], "--lr_step_epochs", "100,150"),
    (["--optimizer=adamw", "--weight_decay=0.1"], "adamw", "decoupled"),
    (["--label_smoothing=1.0"], "--label_smoothing", "[0, 1)"),
    (["--flip=diagonal"], "--flip", "none|horizontal|vertical|both"),
    (["--dataset=cifar10", "--data_dir=/nonexistent"], "cifar10", "--data_dir"),
    (["--model=vgg11", "--drop_path_rate=0.1"], "--drop_path_rate", "residual"),
    (["--stem=imagenet", "--model=resnet20"], "--stem", "resnet18/34/50/101/152"),
    (["--batch_size=-1"], "--batch_size", "> 0"),
    (["positional"], "positional", "--name=value"),
    (["--val_split=1.5"], "--val_split", "[0, 1)"),
    (["--seed=-1"], "--seed", ">= 0"),
    (["--pad_crop_pixels=-2"], "--pad_crop_pixels", ">= 0"),
    (["--random_erasing_area_min=0.5", "--random_erasing_area_max=0.1"],
     "--random_erasing_area_min", "<= --random_erasing_area_max"),
    (["--cutout_extra_per_batch=2"], "--cutout_extra_per_batch", "--cutout_pixels > 0"),
    (["--mix_prob=0.5"], "--mix_prob", "--mixup_alpha or --cutmix_alpha"),
    (["--weight_decay_exclude=norm_and_bias"], "--weight_decay_exclude", "--weight_decay > 0"),
    (["--early_stopping_patience=3"], "--early_stopping_monitor", "--val_split > 0"),
    (["--model=resnet20", "--agc_stages=5"], "--agc_stages", "1..3"),
    (["--agc_stages=x"], "--agc_stages", "'all', '' or distinct ints"),
    (["--norm_stages=0"], "--norm_stages", "distinct ints >= 1"),
    (["--lr_min=1"], "--lr_min", "<= --learning_rate"),
    (["--lr_schedule=step", "--lr_step_epochs=a"], "--lr_step_epochs", "positive integers"),
    (["--epochs=abc"], "--epochs", "abc"),
    (["--no_such_flag=1"], "no_such_flag", "Unknown"),
    (["--model=vgg11", "--weight_standardization"], "--weight_standardization", "ResNets only"),
    (["--run_dir=/etc/hostname/run"], "/etc/hostname/run", "--run_dir"),
    (["--target_train_accuracy=2"], "--target_train_accuracy", "[0, 1]"),
    (["--shear_degrees=95"], "--shear_degrees", "[0, 90)"),
    (["--mixed_precision=fp8"], "--mixed_precision", "none|float16|bfloat16"),
    (["--cutout_prob=1.5"], "--cutout_prob", "[0, 1]"),
    (["--jit_compile", "--deterministic"], "--jit_compile", "--deterministic"),
    (["--strategy=mirrored", "--jit_compile", "--synthetic_train_examples=20"], "--jit_compile", "GPUs"),
    # values that pass a range check but make a run meaningless (nan fails every comparison)
    (["--learning_rate=inf"], "--learning_rate=inf", "must be finite and > 0"),
    (["--momentum=nan"], "--momentum=nan", "must be finite and in [0, 1)"),
    (["--width_multiplier=1e9"], "--width_multiplier", "(0, 16]"),
    (["--seed=4294967296"], "--seed", "<= 4294967295"),
    (["--batch_size=99999999999"], "--batch_size", "<= 4294967295"),
    # absl's own parse errors, one line with the fix
    (["--nonesterov=true"], "--nonesterov=true", "write --nonesterov or --nesterov=false"),
    (["--nesterov=maybe"], "--nesterov=maybe", "--nonesterov"),
    (["--lr_schedule=step", "--lr_step_epochs=10,x"], "--lr_step_epochs=10,x", "positive integers"),
    (["--learning_rate=0.1x"], "--learning_rate=0.1x", "give a number"),
    (["--lerning_rate=0.1"], "'lerning_rate'", "did you mean learning_rate?"),
    (["--flagfile=missing.flags"], "--flagfile=missing.flags", "check the path"),
    (["--flagfile={tmp}/int_comment.flags"], "--epochs=5 # five", "comments on whole lines only"),
    (["--flagfile={tmp}/str_comment.flags"], "--data_dir=/data # CIFAR", "whole lines only"),
    (["--flagfile={tmp}/loop.flags"], "loop.flags includes itself", "closes the loop"),
    # sizes the image makes meaningless (all-black images, nothing erased)
    (["--cutout_pixels=32"], "--cutout_pixels=32", "fewer than 32"),
    (["--dataset=fashion_mnist", "--pad_crop_pixels=28"], "--pad_crop_pixels=28", "fewer than 28"),
    (["--tta=crops", "--tta_crop_pixels=32"], "--tta_crop_pixels=32", "fewer than 32"),
    (["--random_erasing_prob=0.5", "--random_erasing_area_min=0.99", "--random_erasing_area_max=1"],
     "--random_erasing_area_min", "never fits"),
    # splits and subsets that leave nothing or miss classes (20 synthetic examples, 2 a class)
    (["--synthetic_train_examples=20", "--train_examples=5"], "--train_examples=5", "at least 10"),
    (["--synthetic_train_examples=20", "--train_examples=30"], "--train_examples=30", "at most 20"),
    (["--synthetic_train_examples=20", "--val_split=0.01", "--early_stopping_patience=2"],
     "--val_split=0.01", "at least 0.05"),
    (["--synthetic_train_examples=20", "--val_split=0.99"], "--val_split=0.99", "lower --val_split"),
    # --data_dir is used or refused, never replaced by another copy
    (["--dataset=cifar10", "--data_dir=/etc/hostname"], "--data_dir=/etc/hostname", "is a file"),
    (["--dataset=fashion_mnist", "--data_dir={tmp}"], "lacks train-images-idx3-ubyte", "put the four"),
    (["--dataset=cifar100", "--data_dir={tmp}"], "holds neither cifar-100-python.tar.gz",
     "leave out --data_dir"),
]
FLAGFILES = {  # written into the test's folder, {tmp} above
    "int_comment.flags": "--epochs=5  # five\n",
    "str_comment.flags": "--dataset=cifar10\n--data_dir=/data  # CIFAR\n",
    "loop.flags": "--epochs=2\n--flagfile={tmp}/loop.flags\n",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The command lines here never download (a dataset missing from --data_dir is refused)."""
    monkeypatch.setenv("TFREG_OFFLINE", "1")


@pytest.mark.parametrize("args,names,allowed", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, names, allowed, run_process):
    for name, text in FLAGFILES.items():
        (tmp_path / name).write_text(text.format(tmp=tmp_path))
    args = [a.format(tmp=tmp_path) for a in args]
    run_dir = tmp_path / "run"
    extra = [] if any(a.startswith("--run_dir") for a in args) else [f"--run_dir={run_dir}"]
    result = run_process(*args, *extra)
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("tfreg: error:") and names in lines[0] and allowed in lines[0], lines
    assert "Traceback" not in result.stderr
    assert not run_dir.exists()


def test_corrupt_dataset_is_one_line_naming_the_file(tmp_path, run_process):
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(b"\x1f\x8b\x08 not really gzip")
    result = run_process("--dataset=cifar100", f"--data_dir={tmp_path}", f"--run_dir={tmp_path / 'r'}")
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1
    assert "cifar-100-python.tar.gz" in lines[0] and "download it again" in lines[0]
    assert not (tmp_path / "r").exists()


def test_completed_run_dir_is_never_overwritten(tmp_path, run_process):
    run_dir = tmp_path / "done"
    run_dir.mkdir()
    (run_dir / "flags.txt").write_text(runs.FLAGS_HEADER)  # the marker of a tfreg run
    (run_dir / "summary.json").write_text('{"status": "completed"}')
    result = run_process("--dataset=synthetic", f"--run_dir={run_dir}")
    assert result.returncode == 2
    assert "--overwrite" in tf_noise_free(result.stderr)[0]
    assert sorted(os.listdir(run_dir)) == ["flags.txt", "summary.json"]


def test_dry_run_prints_summary_and_trains_nothing(tmp_path, run_process):
    result = run_process("--dataset=synthetic", "--synthetic_train_examples=100", "--dry_run",
                         "--model=resnet20", "--dropout_rates=0.1,0.2", "--drop_path_rate=0.2",
                         "--mixup_alpha=0.2", "--label_smoothing=0.1", f"--run_dir={tmp_path / 'r'}")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "train 100, val 0, test 500" in out
    assert "trainable parameters 269,722" in out
    assert "stage1: 3 blocks, norm=batch, block_dropout=-, stage_dropout=0.1" in out
    # Huang et al.'s rule in batch mode: p_l = l/L * p_L over the 9 blocks, so 0.2/9 first
    assert "drop_path=0.022..0.067 (batch, paper rule)" in out
    assert "stage3: 3 blocks" in out and "0.156..0.200 (batch, paper rule)" in out
    assert "mixup: alpha 0.2" in out and "label smoothing: 0.1 (uniform)" in out
    assert not (tmp_path / "r").exists()


def test_helpfull_lists_every_flag_by_section(run_process):
    result = run_process("--helpfull")
    assert result.returncode == 0
    fv = tfreg_flags.define_flags(tfreg_flags.flags.FlagValues())
    for names in tfreg_flags.SECTIONS.values():
        for name in names:
            assert f"--{name}" in result.stdout
            assert fv[name].help
    assert "[augment]" in result.stdout and "{batch,sample}" in result.stdout


def test_config_fields_are_exactly_the_flags():
    cfg = tfreg_flags.make_config()
    flat = cfg.flat()
    fv = tfreg_flags.define_flags(tfreg_flags.flags.FlagValues())
    assert set(flat) == {name for names in tfreg_flags.SECTIONS.values() for name in names}
    assert set(flat) == set(fv) - {"flagfile", "undefok"}


def test_flagfile_round_trip(tmp_path):
    cfg = tfreg_flags.make_config(model="resnet56", dropout_rates=[0.1, 0.2, 0.3], nesterov=True,
                             lr_schedule="step", lr_step_epochs=[100, 150], norm_stages="",
                             norm="batch", weight_decay=5e-4, mixup_alpha=0.2)
    path = tmp_path / "flags.txt"
    path.write_text(config.to_flagfile(cfg))
    again = tfreg_flags.parse_args(["tfreg", f"--flagfile={path}"])
    assert again == cfg
    assert again.model.norm_stages == () and again.train.lr_step_epochs == (100, 150)
    assert tfreg_flags.make_config().model.norm_stages is None  # 'all'
    assert tfreg_flags.make_config(norm_stages="3,1").model.norm_stages == (3, 1)


def test_failed_run_exits_non_zero_and_says_why(tmp_path, run_process):
    result = run_process("--dataset=synthetic", "--synthetic_train_examples=64", "--batch_size=32",
                         "--width_multiplier=0.25", "--norm=none", "--learning_rate=1e30",
                         "--epochs=2", "--verbose=0", f"--run_dir={tmp_path / 'nan'}")
    assert result.returncode == 1, result.stderr[-2000:]
    lines = tf_noise_free(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("tfreg: error: non-finite loss at epoch 1 step")
    assert "checkpoint is kept" in lines[0]
    summary = json.loads((tmp_path / "nan" / "summary.json").read_text())
    assert summary["status"].startswith("failed: non-finite loss at epoch 1 step")
    assert summary["schema_version"] == 1 and summary["epochs_completed"] == 0


def test_unfinished_run_resumes_only_with_its_own_flags(tmp_path, run_process):
    run_dir = tmp_path / "unfinished"
    run_dir.mkdir()
    started = tfreg_flags.make_config(dataset="synthetic", epochs=3, run_dir=str(run_dir))
    (run_dir / "flags.txt").write_text(runs.FLAGS_HEADER + config.to_flagfile(started))
    (run_dir / "summary.json").write_text('{"status": "running"}')
    result = run_process("--dataset=synthetic", "--epochs=5", f"--run_dir={run_dir}")
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1
    assert "other flags (now --epochs=5)" in lines[0] and "--overwrite" in lines[0]
    assert sorted(os.listdir(run_dir)) == ["flags.txt", "summary.json"]
