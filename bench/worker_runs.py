"""Running the poll worker (bench/poll_worker.py) from a section, in this interpreter or in an isolated
one: a temporary venv (`python -m venv`, then `pip install --require-hashes -r requirements.lock`,
offline from build/wheels when the build cached the wheels), run as `python -I`, so only the locked
dependencies are importable, as in the .pyz."""
from __future__ import annotations

import os

from bench.common import ROOT, UNINHERITED_ENV


def worker_command(python: str, isolated: bool):
    """The poll worker (bench/poll_worker.py), imported rather than run as a script."""
    if isolated:  # -I: no PYTHONPATH, no user site, no script directory: ROOT explicitly
        return [python, "-I", "-c", "import sys; sys.path.insert(0, %r); from bench.poll_worker import main; "
                "sys.exit(main(sys.argv[1:]))" % ROOT]
    return [python, "-c", "import sys; from bench.poll_worker import main; sys.exit(main(sys.argv[1:]))"]


def run_poll_worker(bench, config: str, polls: int, warmup: int = 10, virtual_clock: bool = False,
                    poll_interval: float = 10.0, python=None, isolated: bool = False, on_ready=None,
                    extra_args=(), timeout_sec: float = 300):
    """One worker run: `on_ready()` runs between its warm-up and its measured polls (reset counters
    there); returns the worker's JSON."""
    import json
    import subprocess

    cmd = worker_command(python or bench.python, isolated) + [
        "--config", config, "--polls", str(polls), "--warmup", str(warmup),
        "--poll-interval", str(poll_interval), *extra_args]
    if virtual_clock:
        cmd.append("--virtual-clock")
    err_path = os.path.join(bench.tmp, "worker.err")
    env = {k: v for k, v in os.environ.items() if k not in UNINHERITED_ENV}
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                cwd=ROOT, env=env)
    try:
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.kill()
            proc.wait()
            with open(err_path) as err:
                raise RuntimeError("worker did not get ready: %r %s" % (line, err.read()[-800:]))
        if on_ready is not None:
            on_ready()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out = proc.stdout.readline()
        proc.wait(timeout=timeout_sec)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not out.strip():
        with open(err_path) as err:
            raise RuntimeError("worker gave no result: %s" % err.read()[-800:])
    return json.loads(out)


def make_isolated_venv(bench):
    """A venv with only the locked dependencies (no pip, nothing else); its python, and how."""
    import glob
    import platform
    import subprocess

    cached = getattr(bench, "_isolated_python", None)
    if cached:
        return cached
    venv = os.path.join(bench.tmp, "isolated-venv")
    subprocess.run([bench.python, "-m", "venv", "--without-pip", venv], check=True, capture_output=True)
    vpy = os.path.join(venv, "bin", "python")
    lock = os.path.join(ROOT, "requirements.lock")
    pip = [bench.python, "-m", "pip", "--python", vpy, "install", "-q", "--disable-pip-version-check",
           "--require-hashes", "-r", lock]
    pure = os.path.join(ROOT, "build", "wheels", "pure")
    native = [d for d in glob.glob(os.path.join(ROOT, "build", "wheels", "linux-*-glibc")) if platform.machine() in d]
    how = None
    if os.path.isdir(pure) and native:
        p = subprocess.run(pip + ["--no-index", "--find-links", pure] + sum((["--find-links", d] for d in native), []),
                           capture_output=True, text=True)
        if p.returncode == 0:
            how = "pip install --require-hashes -r requirements.lock, offline from build/wheels"
    if how is None:
        p = subprocess.run(pip, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("could not install requirements.lock into the isolated venv: %s" % p.stderr[-400:])
        how = "pip install --require-hashes -r requirements.lock (from the package index)"
    listing = subprocess.run([vpy, "-I", "-c", "import importlib.metadata as m; print(sorted('%s %s' % "
                              "(d.metadata['Name'], d.version) for d in m.distributions()))"],
                             capture_output=True, text=True).stdout.strip()
    bench._isolated_python = (vpy, how, listing)
    return bench._isolated_python


def vm_hwm_of(python: str, code: str, isolated: bool, cwd: str):
    """VmHWM (kB) and module count of `python [-I] -c code`."""
    import subprocess

    probe = code + "; import sys; print(len(sys.modules)); print(open('/proc/self/status').read())"
    out = subprocess.run([python] + (["-I"] if isolated else []) + ["-c", probe], capture_output=True, text=True,
                         check=True, cwd=cwd).stdout
    lines = out.splitlines()
    hwm = next(int(l.split()[1]) for l in lines if l.startswith("VmHWM:"))
    return hwm, int(lines[0])
