"""`image-env` and `run` under the real Python 3.7: the image's start, emulated offline."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import config_for
from tests.localserver import serve_folder
from tests.wheelfactory import SimpleIndex, make_sdist, make_wheel
from wheelhouse.cli import main
from wheelhouse.mirror.sync import SyncOptions, sync
from wheelhouse.model.profile import InstalledDist, bare_profile
from wheelhouse.resolver.locker import lock_image

SCORE = """
import json
import os
import imagepkg, legacy
def init():
    global factor
    import mounted
    factor = mounted.FACTOR
def run(raw):
    data = json.loads(raw)["data"]
    return {"result": [x * factor for x in data], "image": imagepkg.__version__,
            "legacy": legacy.VERSION}
"""


@pytest.fixture(scope="module")
def image(
    tmp_path_factory: pytest.TempPathFactory, python37: str, build_backend: list[Path]
) -> dict[str, Path]:
    """A tiny image (one wheel, one sdist-only package) and its wheelhouse, per module: the
    image lock synced from a local index, its sdist built by sync --build-with."""
    root = tmp_path_factory.mktemp("image")
    upstream = SimpleIndex(root / "upstream")
    upstream.add(make_wheel(root / "dists", "imagepkg", "1.0"))
    upstream.add(make_sdist(root / "dists", "legacy", "0.1"))
    upstream.add_all(build_backend)
    upstream.write()
    make_wheel(root / "mirror", "extra-dep", "2.0", files={"extra_dep.py": "FACTOR = 3\n"})
    installed = [
        InstalledDist("imagepkg", "1.0", (), None),  # type: ignore[arg-type]
        InstalledDist("legacy", "0.1", (), None),
        # the image's own build backend builds its sdist-only package, as in the real image
        InstalledDist("setuptools", "68.0.0", (), None),
        InstalledDist("wheel", "0.42.0", (), None),
    ]  # type: ignore[arg-type]
    prof = bare_profile("3.7.16", "manylinux_2_27_x86_64").with_installed(
        installed, name="tiny-image"
    )
    (root / "image.json").write_text(prof.to_json())
    with serve_folder(upstream.root) as (url, _):
        lock_image(prof, config_for(url), root / "image.lock")
        options = SyncOptions(build_with=python37)
        report = sync(
            [root / "pylock.image.toml"],
            root / "wheelhouse",
            config=config_for(url),
            options=options,
        )
    assert report.ok, report.failed
    assert [b.wheel for b in report.built] == ["legacy-0.1-py3-none-any.whl"]
    return {
        "root": root,
        "profile": root / "image.json",
        "wheelhouse": root / "wheelhouse",
        "mirror": root / "mirror",
    }


@pytest.fixture(scope="module")
def image_python(image: dict[str, Path], python37: str) -> str:
    """The stand-in, built once per module."""
    env = image["root"] / "image-env"
    argv = [
        "image-env",
        str(env),
        "--image",
        str(image["profile"]),
        "--python",
        python37,
        "--wheelhouse",
        str(image["wheelhouse"]),
    ]
    assert main(argv) == 0
    return str(env / "bin" / "python")


@pytest.fixture
def world(image: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """A score folder per test, beside the shared image."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "score.py").write_text(SCORE)
    (app / "sample-request.json").write_text('{"data": [1, 2]}')
    site = app / "myenv" / "lib" / "python3.7" / "site-packages"
    site.mkdir(parents=True)
    (site / "mounted.py").write_text("FACTOR = 10\n")
    return {**image, "app": app, "scratch": tmp_path}


def test_image_env_built_offline_and_reused(world, image_python, python37, capsys) -> None:  # type: ignore[no-untyped-def]
    assert Path(image_python).exists()
    capsys.readouterr()
    assert (
        main(
            [
                "image-env",
                str(world["root"] / "image-env"),
                "--image",
                str(world["profile"]),
                "--python",
                python37,
                "--wheelhouse",
                str(world["wheelhouse"]),
            ]
        )
        == 0
    )
    assert "up to date" in capsys.readouterr().err


def test_image_env_names_missing_packages(world, python37, capsys) -> None:  # type: ignore[no-untyped-def]
    partial = world["scratch"] / "wheelhouse"
    shutil.copytree(world["wheelhouse"], partial)
    for f in (partial / "files").glob("legacy*"):
        f.unlink()
    out = world["scratch"] / "env2"
    argv = [
        "image-env",
        str(out),
        "--image",
        str(world["profile"]),
        "--python",
        python37,
        "--wheelhouse",
        str(partial),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "legacy==0.1" in err and "--image-packages" in err
    assert not out.exists()


def test_image_env_needs_the_sdist_built(world, python37, capsys) -> None:  # type: ignore[no-untyped-def]
    partial = world["scratch"] / "wheelhouse"
    shutil.copytree(world["wheelhouse"], partial)
    (partial / "files" / "legacy-0.1-py3-none-any.whl").unlink()
    out = world["scratch"] / "env3"
    argv = ["image-env", str(out), "--image", str(world["profile"]), "--python", python37]
    assert main([*argv, "--wheelhouse", str(partial)]) == 2
    err = capsys.readouterr().err
    assert "only the sdist of legacy-0.1.tar.gz" in err and "--build-with PYTHON" in err
    assert not out.exists()


def test_image_env_refuses_wrong_python(world, capsys) -> None:  # type: ignore[no-untyped-def]
    import sys

    assert (
        main(
            [
                "image-env",
                str(world["scratch"] / "e"),
                "--image",
                str(world["profile"]),
                "--python",
                sys.executable,
                "--wheelhouse",
                str(world["wheelhouse"]),
            ]
        )
        == 2
    )
    assert "but profile tiny-image is Python 3.7.16" in capsys.readouterr().err


def test_run_with_mounted_lib_path(world, image_python, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        [
            "run",
            str(world["app"]),
            "--python",
            image_python,
            "--json",
            "--env",
            "AZUREML_EXTRA_PYTHON_LIB_PATH=myenv/lib/python3.7/site-packages",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out) == {"result": [10, 20], "image": "1.0", "legacy": "0.1"}


def test_run_missing_lib_path_is_97(world, image_python) -> None:  # type: ignore[no-untyped-def]
    assert (
        main(
            [
                "run",
                str(world["app"]),
                "--python",
                image_python,
                "--env",
                "AZUREML_EXTRA_PYTHON_LIB_PATH=nowhere",
            ]
        )
        == 97
    )


def test_run_missing_requirements_is_99(world, image_python) -> None:  # type: ignore[no-untyped-def]
    assert (
        main(
            [
                "run",
                str(world["app"]),
                "--python",
                image_python,
                "--env",
                "AZUREML_EXTRA_REQUIREMENTS_TXT=nope.txt",
            ]
        )
        == 99
    )


def test_run_dynamic_install_from_mirror(world, image_python, capsys) -> None:  # type: ignore[no-untyped-def]
    app = world["app"]
    (app / "requirements.txt").write_text("extra-dep==2.0\n")
    (app / "score.py").write_text(SCORE.replace("import mounted", "import extra_dep as mounted"))
    code = main(
        [
            "run",
            str(app),
            "--python",
            image_python,
            "--json",
            "--find-links",
            str(world["mirror"]),
            "--env",
            "AZUREML_EXTRA_REQUIREMENTS_TXT=requirements.txt",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["result"] == [3, 6]
    # the image stand-in itself was not changed: the install went into a scratch copy
    env_site = Path(image_python).parent.parent / "lib" / "python3.7" / "site-packages"
    assert not list(env_site.glob("extra_dep*"))


def test_run_failed_dynamic_install_is_95(world, image_python) -> None:  # type: ignore[no-untyped-def]
    (world["app"] / "requirements.txt").write_text("not-mirrored==1.0\n")
    assert (
        main(
            [
                "run",
                str(world["app"]),
                "--python",
                image_python,
                "--find-links",
                str(world["mirror"]),
                "--env",
                "AZUREML_EXTRA_REQUIREMENTS_TXT=requirements.txt",
            ]
        )
        == 95
    )


def test_run_failing_init_shows_traceback_and_path(world, image_python, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["run", str(world["app"]), "--python", image_python])  # nothing mounted
    err = capsys.readouterr().err
    assert code == 1
    assert "score script failed in init()" in err
    assert "ModuleNotFoundError: No module named 'mounted'" in err
    assert "sys.path was:" in err


def test_run_with_relative_paths(world, image_python, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(Path(image_python).parent.parent.parent)
    rel_python = str(Path(image_python).relative_to(Path.cwd()))
    rel_app = os.path.relpath(world["app"])
    argv = [
        "run",
        rel_app,
        "--python",
        rel_python,
        "--json",
        "--env",
        "AZUREML_EXTRA_PYTHON_LIB_PATH=myenv/lib/python3.7/site-packages",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["result"] == [10, 20]


def test_run_with_missing_interpreter(world, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["run", str(world["app"]), "--python", "/nonexistent/python"]) == 2
    assert "no interpreter at /nonexistent/python" in capsys.readouterr().err
