import os
import subprocess
import sys

import pytest

from tfreg import environment

# The tools' environment (TF_ENABLE_ONEDNN_OPTS, quiet logs) before TensorFlow loads; `import
# tfreg` alone sets nothing (tests/test_public_api.py).
environment.configure()

# No test may reach the network: the dataset loaders refuse to download (subprocesses inherit it).
os.environ["TFREG_OFFLINE"] = "1"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, cwd=None, timeout=300):
    """Runs `python -m tfreg.run ARGS`; returns CompletedProcess with text stdout/stderr."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "tfreg.run", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=timeout)


def tf_noise_free(stderr):
    """stderr without TensorFlow's C++ start-up lines, which precede Python-level logging."""
    skip = ("WARNING: All log messages before absl::InitializeLog", "I0000 ", "W0000 ", "E0000 ")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(skip)]


# The smallest run: what every tiny run of the tests shares; each test adds its sizes and epochs.
TINY_RUN = dict(dataset="synthetic", model="resnet8", width_multiplier=0.25, verbose=0)


def tiny_flags(**overrides):
    """{flag: value} of a tiny synthetic run (TINY_RUN) with the test's own settings."""
    return {**TINY_RUN, **overrides}


def tiny_argv(**overrides):
    """The same as command-line flags: ["--dataset=synthetic", ..., "--nosaved_model"]."""
    from tfreg.regularizers.registry import as_argv

    return as_argv(tiny_flags(**overrides))


@pytest.fixture
def tiny():
    """Config overrides for a tiny, fast synthetic run."""
    return tiny_flags(synthetic_train_examples=256, synthetic_test_examples=64, batch_size=32,
                      epochs=1)


@pytest.fixture(scope="session")
def run_process():
    """run_cli, for tests that start `python -m tfreg.run`: a test that requests this fixture (or a
    fixture that does) is marked slow at collection (PROCESS_FIXTURES), so `make test-fast`
    leaves it out."""
    return run_cli


@pytest.fixture(scope="session")
def processes(run_process):
    """The subprocess module, for tests that start other processes (`python -c`, the sweep, a
    Popen they signal): built on run_process, so its tests are marked slow the same way."""
    return subprocess


# Fixtures that start processes: their tests are slow (pytest_collection_modifyitems); a fixture
# built on one of these (requests it) marks its tests too.
PROCESS_FIXTURES = {"run_process"}


# Modules whose tests are slow for what they do in this process (train, build and export models,
# set up devices) or through processes they start without a PROCESS_FIXTURES fixture yet: the full
# tier (`make test`) only. `make test-fast` (-m "not slow") keeps every other test. A test that
# starts processes through a PROCESS_FIXTURES fixture needs no entry here.
SLOW_MODULES = {
    "test_run": "end-to-end runs in this process (a 1,500-example reference run), and a rerun",
    "test_distributed": "two replicas on logical CPUs, in a child process it starts itself",
    "test_bench": "the benchmark harness, started as processes of its own",
    "test_flagfiles": "builds the model of every bundled flagfile",
    "test_transfer": "builds resnets and steps them in this process for every case",
    "test_analysis": "builds VGGs and runs the landscape tool on one in this process",
    "test_export": "exports and reloads SavedModels, one in a child process",
    "test_auto_augment": "RandAugment / AugMix graphs traced in tf.data, a stream resumed",
    "test_tta_multiscale": "the 22 test-time views against a direct computation on a model",
    "test_precision": "float16 / bfloat16 training runs in this process",
    "test_activations": "trains every activation with every norm in this process",
    "test_overhead": "3-epoch reference runs in this process, twice",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        # item.fixturenames holds every fixture the test needs, those of its fixtures included
        if module in SLOW_MODULES or PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        # `make test` spreads the tests over processes (pytest-xdist, --dist=loadgroup): the tests
        # of a module that share a module-scoped fixture (a reference run, a sweep) go to one
        # process, so the fixture is built once.
        if any(defs[-1].scope == "module" for defs in item._fixtureinfo.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(module))
