"""Start-up: `--version` from a virtualenv, from the .pyz with a warm and a cold cache, and a bare
`python3 -c pass`, interleaved rounds, medians."""
from __future__ import annotations

import os

from bench.common import ROOT

DETAIL_KEYS = ("startup", "venv", "venv_error")


def run(bench) -> None:
    import shutil
    import subprocess
    import tempfile
    import time

    runs = bench.args.startup_runs
    bench.log("start-up: median of %d interleaved runs each" % runs)

    def once(cmd, env=None, fresh_cache: bool = False):
        e = dict(env or os.environ)
        if fresh_cache:
            e["PLEX_HELPER_CACHE_DIR"] = tempfile.mkdtemp(prefix="cold-", dir=bench.tmp)
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=e, capture_output=True, cwd=bench.tmp)
        elapsed = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (cmd, p.stderr.decode()[-500:]))
        if fresh_cache:
            shutil.rmtree(e["PLEX_HELPER_CACHE_DIR"], ignore_errors=True)
        return elapsed, p.stdout.decode().strip()

    venv_cmd = make_venv(bench)
    vpy = os.path.join(bench.tmp, "venv", "bin", "python") if venv_cmd else None
    pyz = bench.ensure_pyz()
    warm_env = dict(os.environ, PLEX_HELPER_CACHE_DIR=os.path.join(bench.tmp, "warm-cache"))
    if pyz:
        subprocess.run([bench.python, pyz, "--version"], env=warm_env, capture_output=True, check=True)
    # (key, label, command, env, fresh cache); interleaved rounds would be fairer against drift,
    # but every command is run `runs` times back to back after one untimed run.
    plan = [("pass", "python3 -c pass", [bench.python, "-c", "pass"], None, False)]
    if vpy:
        plan.append(("pass_venv", "venv python -c pass", [vpy, "-c", "pass"], None, False))
        plan.append(("venv", "virtualenv: plex-helper --version", venv_cmd, None, False))
    if pyz:
        plan.append(("warm", ".pyz --version, warm cache (python3)", [bench.python, pyz, "--version"], warm_env, False))
        if vpy:
            plan.append(("warm_venvpy", ".pyz --version, warm cache (venv python)", [vpy, pyz, "--version"],
                         warm_env, False))
        plan.append(("cold", ".pyz --version, cold cache (python3)", [bench.python, pyz, "--version"], None, True))
    # Interleaved: each round runs every command once, so load from other work on the machine
    # (it drifts over seconds) falls on all of them alike; one untimed round first.
    times = {key: [] for key, *_ in plan}
    outputs = {}
    for round_no in range(runs + 1):
        for key, label, cmd, env, fresh in plan:
            elapsed, outputs[key] = once(cmd, env, fresh)
            if round_no:
                times[key].append(elapsed)
    res = {}
    for key, label, cmd, env, fresh in plan:
        t = sorted(times[key])
        res[key] = {"label": label, "median_ms": t[len(t) // 2] * 1000, "min_ms": t[0] * 1000,
                    "max_ms": t[-1] * 1000, "command": " ".join(cmd), "output": outputs[key]}
    site_hooks = find_site_hooks()
    bench.details["startup"] = {"runs": runs, "results": res, "site_pth_with_imports": site_hooks}
    venv_ms = res["venv"]["median_ms"] if "venv" in res else None
    for key, r in res.items():
        target, ok = "(reference)", None
        measured = "%.1f ms" % r["median_ms"]
        if venv_ms and key in ("warm", "warm_venvpy", "cold"):
            ratio = r["median_ms"] / venv_ms
            bench.details["startup"]["%s_over_venv" % key] = ratio
            measured = "%.1f ms = %.2fx virtualenv" % (r["median_ms"], ratio)
            if key in ("warm", "warm_venvpy"):
                target, ok = "<= 1.2x virtualenv", ratio <= 1.2
        bench.row("start-up: %s" % r["label"], measured, target, ok)
    if "venv" not in res:
        bench.row("start-up: virtualenv", "not measured (%s)" % bench.details.get("venv_error", "?"), "", None)
    if site_hooks and "pass_venv" in res:
        bench.notes.append(
            "python3 runs import lines from %s at every start (%.1f ms for -c pass vs %.1f ms in a venv of the "
            "same interpreter); a venv skips them, a .pyz run by python3 cannot: the '(venv python)' row is "
            "the like-for-like comparison" % (", ".join(os.path.basename(h) for h in site_hooks),
                                             res["pass"]["median_ms"], res["pass_venv"]["median_ms"]))


def find_site_hooks():
    """.pth files in the interpreter's site-packages that run `import` lines at start-up."""
    import site

    hooks = []
    for d in site.getsitepackages() + [site.getusersitepackages()]:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            if name.endswith(".pth"):
                try:
                    with open(os.path.join(d, name), errors="replace") as f:
                        if any(l.startswith(("import ", "import\t")) for l in f):
                            hooks.append(os.path.join(d, name))
                except OSError:
                    pass
    return hooks


def make_venv(bench):
    import glob
    import shutil
    import subprocess

    venv = os.path.join(bench.tmp, "venv")
    try:
        subprocess.run([bench.python, "-m", "venv", venv], check=True, capture_output=True)
        vpy = os.path.join(venv, "bin", "python")
        # The pinned wheels the build cached (build/wheels), else the lock file from PyPI.
        wheels = glob.glob(os.path.join(ROOT, "build", "wheels", "pure", "*.whl"))
        native = glob.glob(os.path.join(ROOT, "build", "wheels", "linux-*-glibc", "*.whl"))
        pip = [vpy, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
        import platform

        native = [w for w in native if platform.machine() in w]
        if wheels and native:
            subprocess.run(pip + ["--no-index"] + wheels + native, check=True, capture_output=True)
            how = "wheels from build/wheels (pinned, offline)"
        else:
            subprocess.run([vpy, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--require-hashes",
                            "-r", os.path.join(ROOT, "requirements.lock")], check=True, capture_output=True)
            how = "requirements.lock from PyPI"
        # The project itself, from a copy (an in-tree build would leave build/ and egg-info behind).
        src = os.path.join(bench.tmp, "src")
        os.mkdir(src)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(os.path.join(ROOT, name), src)
        for pkg in ("domain", "adapters", "application"):
            shutil.copytree(os.path.join(ROOT, pkg), os.path.join(src, pkg),
                            ignore=shutil.ignore_patterns("__pycache__"))
        p = subprocess.run(pip + ["--no-build-isolation", src], capture_output=True)
        if p.returncode != 0:
            subprocess.run(pip + [src], check=True, capture_output=True)
        bench.details["venv"] = {"path": venv, "dependencies": how}
        return [os.path.join(venv, "bin", "plex-helper"), "--version"]
    except (subprocess.CalledProcessError, OSError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        bench.details["venv_error"] = "%s %s" % (exc, err.decode("utf-8", "replace")[-300:])
        bench.log("virtualenv failed: %s" % bench.details["venv_error"])
        return None
