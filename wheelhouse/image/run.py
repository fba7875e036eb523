"""`run`: the image's start, emulated offline, as its runit script does it.

The score folder is `dirname(AZUREML_ENTRY_SCRIPT)` under the app root. Then, only one of:
`AZUREML_EXTRA_PYTHON_LIB_PATH` (relative to that folder) is prepended to PYTHONPATH, a
missing folder stopping the start with exit 97; else `AZUREML_EXTRA_REQUIREMENTS_TXT` is
pip-installed into the environment (here a scratch copy of the image stand-in) from the
internal index, a missing file giving 99 and a failed install 95. The server then imports
the score script, calls init() once and run(raw_request).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wheelhouse.errors import UsageError
from wheelhouse.image.imageenv import stand_in_of
from wheelhouse.interpreters import (
    find_python,
    interpreter_version,
    offline_pip_env,
    resolve_interpreter,
    target_env,
)
from wheelhouse.model.profile import Profile, load_profile

logger = logging.getLogger("wheelhouse")

EXIT_LIB_MISSING = 97
EXIT_REQUIREMENTS_MISSING = 99
EXIT_PIP_FAILED = 95
ANSWER = "WHEELHOUSE-ANSWER: "

# Runs under the target's interpreter: import the entry script, init(), run(request).
DRIVER = r"""
import importlib.util, json, os, sys, traceback
entry, request = sys.argv[1], sys.stdin.read()
def fail(stage):
    sys.stderr.write("score script failed in %s:\n" % stage)
    traceback.print_exc()
    sys.stderr.write("sys.path was:\n" + "".join("  %s\n" % p for p in sys.path))
    sys.exit(1)
try:
    sys.path.insert(0, os.path.dirname(os.path.abspath(entry)))
    spec = importlib.util.spec_from_file_location("score", entry)
    score = importlib.util.module_from_spec(spec)
    sys.modules["score"] = score
    spec.loader.exec_module(score)
except BaseException:
    fail("import")
try:
    score.init()
except BaseException:
    fail("init()")
try:
    answer = score.run(request)
except BaseException:
    fail("run()")
if not isinstance(answer, str):
    answer = json.dumps(answer, default=str)
sys.stdout.write("\n" + "WHEELHOUSE-ANSWER: " + answer + "\n")
"""


def choose_interpreter(python: str | None, profile: Profile | None) -> str:
    """The interpreter to start the score with, as a path: `python` if it is the image's
    Python X.Y (refused otherwise), else one of that X.Y found on this machine (with a
    warning: a bare interpreter lacks the image's packages). The image is `profile`, else
    the one the stand-in `python` was built for, else the built-in default."""
    minor, image = _image_python(python, profile)
    if python is None:
        found = find_python(minor)
        logger.warning(
            "no --python: starting the score with %s, a bare Python %s without the image's "
            "packages; give the image stand-in's interpreter (wheelhouse image-env) to start "
            "it as the image would",
            found,
            minor,
        )
        return found
    path = resolve_interpreter(python)
    version = interpreter_version(path)
    if ".".join(version.split(".")[:2]) != minor:
        raise UsageError(
            f"{python} is Python {version}, but the image ({image}) runs Python {minor}: "
            "give the image stand-in's interpreter (wheelhouse image-env), or --image for "
            "another target"
        )
    return path


def _image_python(python: str | None, profile: Profile | None) -> tuple[str, str]:
    """The image's Python X.Y and a name for the image, for `choose_interpreter`."""
    if profile is not None:
        return profile.python_minor, f"profile {profile.name}"
    stamp = stand_in_of(resolve_interpreter(python)) if python else None
    if stamp is not None and "python_version" in stamp:
        version = str(stamp["python_version"])
        return ".".join(version.split(".")[:2]), f"stand-in of {stamp.get('profile')}"
    default = load_profile(None)
    return default.python_minor, f"the built-in profile {default.name}"


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    answer: str | None
    log: list[str] = field(default_factory=list)  # what the start did, in order
    stdout: str = ""
    stderr: str = ""


def run_score(
    app_root: Path,
    python: str,
    request: str,
    env: Mapping[str, str],
    *,
    index_url: str | None = None,
    extra_index_urls: tuple[str, ...] = (),
    find_links: tuple[str, ...] = (),
) -> RunResult:
    """Start the score script as the image would; never raises for the script's failures."""
    python = resolve_interpreter(python)
    app_root = check_app_root(app_root).absolute()
    entry_rel = env.get("AZUREML_ENTRY_SCRIPT", "score.py")
    entry = app_root / entry_rel
    folder = entry.parent
    if not entry.is_file():
        raise UsageError(f"no entry script {entry} (AZUREML_ENTRY_SCRIPT={entry_rel!r})")
    log: list[str] = [f"score folder: {folder}"]
    # The image's own environment, not this host's: no PIP_* and no PYTHON* settings leak in.
    child_env = target_env({**env, "PYTHONDONTWRITEBYTECODE": "1"})
    lib = env.get("AZUREML_EXTRA_PYTHON_LIB_PATH")
    req = env.get("AZUREML_EXTRA_REQUIREMENTS_TXT")
    scratch: Path | None = None
    try:
        if lib:
            lib_path = (folder / lib).resolve()
            if not lib_path.is_dir():
                log.append(f"AZUREML_EXTRA_PYTHON_LIB_PATH {lib_path} does not exist")
                return RunResult(EXIT_LIB_MISSING, None, log)
            old = child_env.get("PYTHONPATH")
            child_env["PYTHONPATH"] = str(lib_path) + (os.pathsep + old if old else "")
            log.append(f"prepended to PYTHONPATH: {lib_path}")
            log += _other_python(lib_path, python)
        elif req:
            req_path = (folder / req).resolve()
            if not req_path.is_file():
                log.append(f"AZUREML_EXTRA_REQUIREMENTS_TXT {req_path} does not exist")
                return RunResult(EXIT_REQUIREMENTS_MISSING, None, log)
            scratch, python = scratch_copy(python)
            log.append(f"scratch copy of the image environment: {scratch}")
            freeze = subprocess.run(
                [python, "-m", "pip", "freeze"],
                capture_output=True,
                text=True,
                env=offline_pip_env(),
            )
            log.append("pip freeze before the dynamic install:\n" + freeze.stdout.rstrip())
            pip_env = offline_pip_env()
            if index_url:
                pip_env["PIP_INDEX_URL"] = index_url
            if extra_index_urls:
                pip_env["PIP_EXTRA_INDEX_URL"] = " ".join(extra_index_urls)
            if find_links:
                pip_env["PIP_FIND_LINKS"] = " ".join(find_links)
            if not (index_url or find_links):
                pip_env["PIP_NO_INDEX"] = "1"
            proc = subprocess.run(
                [python, "-m", "pip", "install", "-r", str(req_path)],
                capture_output=True,
                text=True,
                env=pip_env,
                cwd=folder,
            )
            log.append(f"pip install -r {req_path} (exit {proc.returncode})")
            if proc.returncode != 0:
                return RunResult(EXIT_PIP_FAILED, None, log, proc.stdout, proc.stderr)
        proc = subprocess.run(
            [python, "-c", DRIVER, str(entry)],
            input=request,
            capture_output=True,
            text=True,
            env=child_env,
            cwd=folder,
        )
        answer = None
        for line in proc.stdout.splitlines():
            if line.startswith(ANSWER):
                answer = line[len(ANSWER) :]
        return RunResult(proc.returncode, answer, log, proc.stdout, proc.stderr)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch.parent, ignore_errors=True)


def check_app_root(app_root: Path) -> Path:
    """The score folder, which must be there before anything else is read from it."""
    if not app_root.is_dir():
        what = "is not a folder" if app_root.exists() else "does not exist"
        raise UsageError(f"the score folder {app_root} {what}")
    return app_root


def _other_python(lib_path: Path, python: str) -> list[str]:
    """A loud warning when the mounted folder was installed for another Python X.Y than the
    interpreter's (lib/pythonX.Y/site-packages): its compiled modules would not load."""
    for part in lib_path.parts:
        m = re.fullmatch(r"python(\d+\.\d+)", part)
        if m:
            version = interpreter_version(python)
            if not version.startswith(m.group(1) + "."):
                text = (
                    f"AZUREML_EXTRA_PYTHON_LIB_PATH {lib_path} is for Python {m.group(1)}, "
                    f"but the interpreter is Python {version}"
                )
                logger.warning("%s", text)
                return [f"WARNING: {text}"]
    return []


def scratch_copy(python: str) -> tuple[Path, str]:
    """A throw-away copy of the virtual environment `python` belongs to."""
    exe = Path(python)
    venv = exe.parent.parent
    if not (venv / "pyvenv.cfg").is_file():
        raise UsageError(
            f"{python} is not in a virtual environment; give the image stand-in's "
            "interpreter (wheelhouse image-env) so a dynamic install can be tried "
            "on a scratch copy of it"
        )
    tmp = Path(tempfile.mkdtemp(prefix="wheelhouse-run-"))
    copy = tmp / "env"
    shutil.copytree(venv, copy, symlinks=True)
    return copy, str(copy / "bin" / exe.name)


def read_request(data: str | None, data_file: Path | None, app_root: Path) -> str:
    """The sample request: --data, a file, or sample-request.json beside the score script."""
    if data is not None:
        return data
    path = data_file or check_app_root(app_root) / "sample-request.json"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"no sample request: give --data or --data-file ({path}: {exc.strerror})"
        ) from exc


def answer_json(answer: str) -> object:
    try:
        return json.loads(answer)
    except ValueError:
        return answer
