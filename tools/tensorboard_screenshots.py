"""TensorBoard as a person sees it (issue 24): runs a tiny sweep (two arms x two seeds of the smoke
experiment), starts `tensorboard --logdir` on it and saves headless-Chromium screenshots of the
Time Series view (scalar curves and the run list), the Scalars dashboard and the HParams table.

Command: python -m tools.tensorboard_screenshots            (make tensorboard-screenshots)
  --out=docs/images (where tensorboard_*.png go), --work_dir=DIR (the sweep; default a temporary
  folder, removed after), --logdir=DIR (screenshots of an existing sweep, none run),
  --chromium=PATH. Needs Chromium (Debian: apt-get install chromium).
Expected: 1 m 41 s on 2 AMD EPYC cores shared with a study sweep (2026-12-04), 72 s of it the
  four runs (two at a time); with the same --work_dir again, or --logdir, about 30 s (the sweep
  skips its finished runs). Three PNGs of 25-40 KB (a 64-colour palette).
"""

import argparse
import base64
import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Two arms of the smoke experiment that differ in one flag, so HParams has a column to show.
ARMS = {"baseline": [], "label_smoothing": ["--label_smoothing=0.1"]}
SEEDS = "0,1"
WIDTH, HEIGHT = 1400, 900
# TensorBoard's views are Angular and Polymer components, most of them behind shadow roots: the
# page's own querySelector does not see them.
DEEP = """const deep = sel => { const out = []; const walk = root => {
    root.querySelectorAll(sel).forEach(e => out.push(e));
    root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); }); };
  walk(document); return out; };
const deepText = () => deep('*').map(e => e.shadowRoot ? '' : e.innerText || '').join(' ');
"""
# file name -> (URL fragment, JS true once the view has drawn, JS run then, what it shows)
VIEWS = {
    "tensorboard_time_series.png": (
        "#timeseries", "deep('line-chart').length >= 2",
        # a first visit opens the settings pane over a third of the window; the tag filter puts
        # accuracy and loss side by side (one group per tag otherwise)
        "deep('button[aria-label=\"Close side pane\"]').forEach(b => b.click());"
        "const box = deep('metrics-tag-filter input')[0]; box.value = 'epoch_(accuracy|loss)';"
        "box.dispatchEvent(new Event('input', {bubbles: true})); box.blur();",
        "Time Series: scalar curves of every run, the run list"),
    "tensorboard_scalars.png": (
        "#scalars", "deep('vz-line-chart2').length >= 2", "",
        "Scalars: the run list (arm/seed_k/tb/train, /test) beside the curves"),
    "tensorboard_hparams.png": (
        "#hparams", "ARMS.every(arm => deepText().includes(arm))", "",
        "HParams table: one trial per arm, its seeds averaged"),
}


def run_sweep(work_dir):
    """The tiny sweep: two arm flagfiles (the smoke experiment, one with label smoothing)."""
    arms = work_dir / "arms"
    arms.mkdir(parents=True, exist_ok=True)
    smoke = ROOT / "experiments" / "smoke.flags"
    for name, extra in ARMS.items():
        (arms / f"{name}.flags").write_text(
            f"# {name}: the smoke experiment{' with ' + ' '.join(extra) if extra else ''}\n"
            + "\n".join([f"--flagfile={smoke}", *extra, "--verbose=0"]) + "\n")
    sweep_dir = work_dir / "sweep"
    command = [sys.executable, "-m", "tfreg.sweep", *(str(arms / f"{n}.flags") for n in ARMS),
               f"--seeds={SEEDS}", f"--sweep_dir={sweep_dir}", "--parallel=2"]
    print("tensorboard_screenshots:", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return sweep_dir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def tensorboard(logdir, expected_runs, timeout_s=180):
    """A TensorBoard server on a free port, once it answers and lists `expected_runs` runs."""
    port = free_port()
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}",
                             f"--port={port}", "--host=127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit("tensorboard_screenshots: TensorBoard exited: "
                                 + " | ".join(log.read().strip().splitlines()[-3:]))
            try:
                listed = _get(url + "data/runs")
                if len(listed) >= expected_runs:
                    break
            except OSError:
                listed = None
            if time.monotonic() > deadline:
                raise SystemExit(f"tensorboard_screenshots: TensorBoard did not list "
                                 f"{expected_runs} runs in {timeout_s} s: {listed}")
            time.sleep(1)
        print(f"tensorboard_screenshots: TensorBoard at {url}, runs: {', '.join(listed)}",
              flush=True)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages ending in NUL, commands to the child's fd 3, replies from its fd 4), so waiting
    for a view to draw and clicking in it need no websocket library or browser download."""

    def __init__(self, path, width, height):
        self._profile = tempfile.TemporaryDirectory()
        cmd_r, self._cmd = os.pipe()
        self._res, res_w = os.pipe()

        def child_fds():
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [path, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
             f"--window-size={width},{height}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_fds, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(res_w)
        self._buf, self._id, self.size = b"", 0, (width, height)

    def send(self, method, session=None, **params):
        """The result of one command (events in between are dropped)."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = os.read(self._res, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed its pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url):
        """A new tab at `url`, the window's size; returns its session."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        w, h = self.size
        self.send("Emulation.setDeviceMetricsOverride", session, width=w, height=h,
                  deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", session, url=url)
        return session

    def js(self, session, expression):
        r = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    def wait(self, session, expression, timeout_s=60):
        """Until the JS `expression` is true in the page."""
        deadline = time.monotonic() + timeout_s
        while not self.js(session, expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.5)

    def screenshot(self, session, path):
        data = self.send("Page.captureScreenshot", session, format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError):  # it may close the pipe before it answers
            pass
        self.proc.wait(timeout=30)
        self._profile.cleanup()


def shrink(path, colors=64):
    """A palette PNG: UI screenshots have few colours, and the docs want small files."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "docs" / "images"))
    p.add_argument("--work_dir", help="where the sweep goes (kept); default: a temporary folder")
    p.add_argument("--logdir", help="screenshot this sweep (or any logdir) instead of running one")
    p.add_argument("--chromium", default=next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None))
    args = p.parse_args(argv)
    if not args.chromium:
        raise SystemExit("tensorboard_screenshots: no Chromium found; install it (Debian: apt-get "
                         "install chromium) or pass --chromium=PATH")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if args.logdir:
            sweep_dir = pathlib.Path(args.logdir).absolute()
        else:
            work = args.work_dir or stack.enter_context(
                tempfile.TemporaryDirectory(prefix="tfreg-tb-"))
            sweep_dir = run_sweep(pathlib.Path(work).absolute())
        # TensorBoard lists every folder holding an event file as a run
        expected = len({p.parent for p in sweep_dir.rglob("events.out.tfevents.*")})
        url = stack.enter_context(tensorboard(sweep_dir, expected))
        browser = Chromium(args.chromium, WIDTH, HEIGHT)
        stack.callback(browser.close)
        arm_names = sorted({p.parent.name for p in sweep_dir.glob("*/seed_*")})
        arms = f"const ARMS = {json.dumps(arm_names)};"
        for name, (fragment, ready, action, what) in VIEWS.items():
            session = browser.open(url + fragment)
            browser.wait(session, f"(() => {{ {DEEP} {arms} return ({ready}); }})()")
            if action:
                browser.js(session, f"(() => {{ {DEEP} {action}; }})()")
            time.sleep(3)  # the charts' transitions
            browser.screenshot(session, out / name)
            shrink(out / name)
            print(f"tensorboard_screenshots: {out / name} ({what}; "
                  f"{(out / name).stat().st_size // 1024} KB)", flush=True)

if __name__ == "__main__":
    main()
