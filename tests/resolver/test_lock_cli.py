"""`wheelhouse lock` end to end against a real local HTTP index built by the test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.pylock import Pylock

from tests.wheelfactory import SimpleIndex, make_sdist, make_wheel
from wheelhouse.cli import main
from wheelhouse.model.lockfiles import load_lock
from wheelhouse.model.profile import InstalledDist, bare_profile

CP37 = "cp37-cp37m-manylinux2014_x86_64"
CP311 = "cp311-cp311-manylinux2014_x86_64"


def build_index(index: SimpleIndex, dists: Path) -> None:
    w = lambda *a, **k: make_wheel(dists, *a, **k)  # noqa: E731
    index.add(w("alpha", "1.0", ["beta>=1.0", 'zipp; python_version < "3.8"']))
    index.add(w("alpha", "2.0", ["beta>=2.0"], requires_python=">=3.8"), requires_python=">=3.8")
    index.add(w("beta", "1.0"))
    index.add(w("beta", "2.0", tag=CP311))
    index.add(w("beta", "1.5", tag=CP37))
    index.add(w("zipp", "3.6.0"))
    index.add(w("newfangled", "1.0", tag=CP311))
    index.add(make_sdist(dists, "sdistonly", "0.3"))
    index.add(w("numlike", "1.19.5", tag=CP37))
    index.add(w("numlike", "1.21.6", tag=CP37))
    index.add(w("pandaslike", "1.3.5", ["numlike>=1.17"], tag=CP37))
    index.add(w("late", "1.0"), upload_time="2020-01-01T00:00:00Z")
    index.add(w("late", "2.0"), upload_time="2023-01-01T00:00:00Z")
    index.add(w("extraful", "1.0", ['zipp; extra == "zip"'], extras=["zip"]))
    index.write()


@pytest.fixture
def upstream(index: SimpleIndex, tmp_path: Path, serve):  # type: ignore[no-untyped-def]
    build_index(index, tmp_path / "dists")
    url, state = serve(index.root)
    return f"{url}/simple", state


def image_profile(tmp_path: Path, numlike_req: str = "numlike>=1.16") -> Path:
    base = bare_profile("3.7.16", "manylinux_2_27_x86_64")
    prof = base.with_installed(
        [
            InstalledDist("numlike", "1.19.5", (), None),  # type: ignore[arg-type]
            InstalledDist("azureml-x", "1.2", (numlike_req,), None),
        ],  # type: ignore[arg-type]
        name="test-image",
    )
    path = tmp_path / "image.json"
    path.write_text(prof.to_json())
    return path


def lock_cli(tmp_path: Path, url: str, *args: str) -> tuple[int, Path]:
    out = tmp_path / "requirements.lock"
    code = main(["lock", "-i", url, "-o", str(out), *args])
    return code, out


def test_marker_for_target_and_requires_python(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, out = lock_cli(
        tmp_path, url, "--python-version", "3.7", "--platform", "manylinux2014_x86_64", "alpha"
    )
    assert code == 0, capsys.readouterr().err
    text = out.read_text()
    assert "alpha==1.0" in text  # 2.0 needs Python >= 3.8
    assert "zipp==3.6.0" in text  # only Python 3.7 needs it: markers for the target
    assert "beta==1.5" in text  # cp37 wheel; 2.0 is cp311-only, 1.5 beats the py3 1.0
    assert "--hash=sha256:" in text
    lock = load_lock(out)
    assert lock.pin("beta").files[0].filename.endswith(f"{CP37}.whl")  # type: ignore[union-attr]
    Pylock.from_dict(__import__("tomllib").loads((tmp_path / "pylock.toml").read_text()))


def test_same_requirements_for_311_differ(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, out = lock_cli(tmp_path, url, "--python-version", "3.11", "alpha")
    assert code == 0
    text = out.read_text()
    assert "alpha==2.0" in text and "beta==2.0" in text and "zipp" not in text


def test_unchanged_inputs_rewrite_nothing_and_ask_nothing(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, state = upstream
    assert lock_cli(tmp_path, url, "--python-version", "3.7", "alpha")[0] == 0
    out = tmp_path / "requirements.lock"
    before = (out.read_bytes(), out.stat().st_mtime_ns)
    pylock_before = (tmp_path / "pylock.toml").read_bytes()
    n = len(state.requests)
    assert lock_cli(tmp_path, url, "--python-version", "3.7", "alpha")[0] == 0
    assert "up to date" in capsys.readouterr().err
    assert (out.read_bytes(), out.stat().st_mtime_ns) == before
    assert len(state.requests) == n
    # a fresh lock with a cold cache gives the same bytes
    out.unlink()
    assert (
        main(["lock", "-i", url, "-o", str(out), "--no-cache", "--python-version", "3.7", "alpha"])
        == 0
    )
    assert out.read_bytes() == before[0]
    assert (tmp_path / "pylock.toml").read_bytes() == pylock_before


def test_image_packages_kept_and_listed(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, out = lock_cli(tmp_path, url, "--image", str(image_profile(tmp_path)), "pandaslike")
    assert code == 0
    text = out.read_text()
    assert "pandaslike==1.3.5 \\" in text
    assert "\n# numlike==1.19.5" in text  # provided by the image, not installed
    assert "numlike==1.21.6" not in text


def test_override_allowed_when_image_accepts(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, out = lock_cli(tmp_path, url, "--image", str(image_profile(tmp_path)), "numlike==1.21.6")
    assert code == 0
    text = out.read_text()
    assert "numlike==1.21.6 \\" in text
    assert "override: replaces the image's numlike 1.19.5" in text


def test_override_conflict_names_the_chain(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    prof = image_profile(tmp_path, numlike_req="numlike<1.20")
    code, out = lock_cli(tmp_path, url, "--image", str(prof), "numlike==1.21.6")
    err = capsys.readouterr().err
    assert code == 3
    assert "azureml-x 1.2 (image) requires numlike<1.20" in err
    assert "you asked numlike==1.21.6" in err
    assert not out.exists()


def test_no_wheel_for_target_explains(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, _ = lock_cli(tmp_path, url, "--python-version", "3.7", "newfangled")
    err = capsys.readouterr().err
    assert code == 3
    assert "newfangled 1.0: no wheel for the target's tags" in err
    assert "cp37-cp37m-manylinux_2_17_x86_64" in err
    assert "no version of newfangled has a wheel for the target" in err


def test_sdist_only_says_so(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, _ = lock_cli(tmp_path, url, "--python-version", "3.7", "sdistonly")
    err = capsys.readouterr().err
    assert code == 3 and "an sdist exists but wheelhouse locks wheels only" in err


def test_unknown_project(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, _ = lock_cli(tmp_path, url, "--python-version", "3.7", "no-such-thing")
    assert code == 3
    assert "no project named 'no-such-thing'" in capsys.readouterr().err


def test_malformed_requirement_names_file_and_line(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    req = tmp_path / "requirements.in"
    req.write_text("alpha\n# fine\nbeta>=>1\n")
    out = tmp_path / "requirements.lock"
    out.write_text("previous lock\n")
    code, _ = lock_cli(tmp_path, url, "--python-version", "3.7", "-r", str(req))
    assert code == 2
    assert "requirements.in:3" in capsys.readouterr().err
    assert out.read_text() == "previous lock\n"  # nothing lost


def test_exclude_newer(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, out = lock_cli(
        tmp_path, url, "--python-version", "3.7", "--exclude-newer", "2021-06-01", "late"
    )
    assert code == 0
    text = out.read_text()
    assert "late==1.0" in text and "Files uploaded after 2021-06-01 were ignored" in text


def test_extras(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, out = lock_cli(tmp_path, url, "--python-version", "3.11", "extraful[zip]")
    assert code == 0 and "zipp==3.6.0" in out.read_text()


def test_metadata_by_range_requests(tmp_path: Path, index: SimpleIndex, serve) -> None:  # type: ignore[no-untyped-def]
    index.metadata_files = False
    build_index(index, tmp_path / "dists")
    url, state = serve(index.root)
    code, out = lock_cli(tmp_path, f"{url}/simple", "--python-version", "3.7", "alpha")
    assert code == 0 and "zipp==3.6.0" in out.read_text()
    assert any("Range" in h for _, _, h in state.requests)


def test_unreachable_index_no_credentials(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PIP_RETRIES", "1")
    code, _ = lock_cli(
        tmp_path, "http://user:s3cret@127.0.0.1:9/simple", "--python-version", "3.7", "alpha"
    )
    err = capsys.readouterr().err
    assert code == 4
    assert "cannot reach http://user:****@127.0.0.1:9/simple/alpha/ after 2 attempts" in err
    assert "s3cret" not in err


def test_pip_configuration_is_honoured(tmp_path: Path, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url, state = upstream
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {url}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    out = tmp_path / "requirements.lock"
    assert main(["lock", "-o", str(out), "--python-version", "3.7", "alpha"]) == 0
    assert state.requests and "alpha==1.0" in out.read_text()


def test_lock_installs_with_pip_require_hashes(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    code, out = lock_cli(tmp_path, url, "--python-version", "3.11", "alpha")
    assert code == 0
    target = tmp_path / "target"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--require-hashes",
            "-r",
            str(out),
            "--index-url",
            url,
            "--target",
            str(target),
            "-q",
        ],
        capture_output=True,
        text=True,
        env={"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "alpha" / "__init__.py").exists()
    assert json.dumps(sorted(p.name for p in target.iterdir() if p.suffix != ".dist-info"))


def test_image_packages_lock_from_index(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    prof = bare_profile("3.7.16", "manylinux_2_27_x86_64").with_installed(
        [
            InstalledDist("numlike", "1.19.5", (), None),  # type: ignore[arg-type]
            InstalledDist("sdistonly", "0.3", (), None),
        ],
        name="img",
    )  # type: ignore[arg-type]
    (tmp_path / "img.json").write_text(prof.to_json())
    code, out = lock_cli(tmp_path, url, "--image", str(tmp_path / "img.json"), "--image-packages")
    assert code == 0
    lock = load_lock(out)
    assert {p.name: p.files[0].filename for p in lock.pins} == {
        "numlike": f"numlike-1.19.5-{CP37}.whl",
        "sdistonly": "sdistonly-0.3.tar.gz",
    }


def test_image_packages_lock_of_builtin_profile_needs_no_network(tmp_path: Path) -> None:
    out = tmp_path / "image.lock"
    assert main(["lock", "--image-packages", "--no-index", "-o", str(out)]) == 0
    lock = load_lock(out)
    assert lock.pin("scikit-learn").version == "0.24.1"  # type: ignore[union-attr]
    assert all(p.files and p.files[0].url for p in lock.pins)


def test_find_links_folder_only(tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    make_wheel(folder, "gamma", "1.0", ["delta"])
    make_wheel(folder, "delta", "2.0")
    out = tmp_path / "requirements.lock"
    assert (
        main(
            [
                "lock",
                "--no-index",
                "-f",
                str(folder),
                "-o",
                str(out),
                "--python-version",
                "3.7",
                "gamma",
            ]
        )
        == 0
    )
    lock = load_lock(out)
    assert {p.name: p.version for p in lock.to_install()} == {"gamma": "1.0", "delta": "2.0"}
    assert lock.pin("delta").files[0].sha256  # type: ignore[union-attr]


def test_offline_lock_from_cache(tmp_path: Path, index: SimpleIndex, serve) -> None:  # type: ignore[no-untyped-def]
    from tests.localserver import serve_folder

    build_index(index, tmp_path / "dists")
    with serve_folder(index.root) as (url, _state):
        code, out = lock_cli(tmp_path, f"{url}/simple", "--python-version", "3.7", "alpha")
        assert code == 0
    first = out.read_text()
    out.unlink()
    # the server is gone: an offline lock answers from the cache alone
    code, out = lock_cli(tmp_path, f"{url}/simple", "--python-version", "3.7", "alpha", "--offline")
    assert code == 0
    assert out.read_text() == first


def test_offline_with_empty_cache_asks_nothing(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, state = upstream
    code, out = lock_cli(tmp_path, url, "--python-version", "3.7", "alpha", "--offline")
    assert code == 4
    assert "offline:" in capsys.readouterr().err
    assert state.requests == [] and not out.exists()


def test_hand_edited_lock_is_rewritten(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    assert lock_cli(tmp_path, url, "--python-version", "3.7", "alpha")[0] == 0
    out = tmp_path / "requirements.lock"
    good = out.read_text()
    out.write_text(good + "garbage==1.0\n")
    assert lock_cli(tmp_path, url, "--python-version", "3.7", "alpha")[0] == 0
    assert "up to date" not in capsys.readouterr().err
    assert out.read_text() == good


def test_locks_that_disagree_are_refused(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    assert lock_cli(tmp_path, url, "--python-version", "3.7", "alpha")[0] == 0
    out = tmp_path / "requirements.lock"
    out.write_text(out.read_text().replace("alpha==1.0", "alpha==1.1"))
    with pytest.raises(Exception, match="disagree on what they pin"):
        load_lock(out)


def test_output_that_is_a_folder_writes_nothing(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    (tmp_path / "pdir").mkdir()
    out = tmp_path / "pair.lock"
    out.write_text("old\n")
    code = main(
        [
            "lock",
            "-i",
            url,
            "-o",
            str(out),
            "--pylock",
            str(tmp_path / "pdir"),
            "--python-version",
            "3.7",
            "alpha",
        ]
    )
    assert code == 2
    assert "is a folder" in capsys.readouterr().err
    assert out.read_text() == "old\n"


def test_target_flags_without_a_bare_target_are_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["lock", "--abi", "cp37", "alpha", "-o", str(tmp_path / "x.lock")]) == 2
    assert "--abi and --implementation describe a bare target" in capsys.readouterr().err


def test_editable_requirement_is_explained(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    req = tmp_path / "requirements.in"
    req.write_text("-e .\n")
    assert (
        main(["lock", "-r", str(req), "--python-version", "3.7", "-o", str(tmp_path / "x.lock")])
        == 2
    )
    assert "requirements.in:1: editable requirements" in capsys.readouterr().err


def test_conflict_names_only_the_blocking_packages(tmp_path: Path, upstream, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = upstream
    base = bare_profile("3.7.16", "manylinux_2_27_x86_64")
    prof = base.with_installed(
        [
            InstalledDist("numlike", "1.19.5", (), None),  # type: ignore[arg-type]
            InstalledDist("blocker", "1.0", ("numlike<1.20",), None),  # type: ignore[arg-type]
            InstalledDist("easygoing", "2.0", ("numlike>=1.0",), None),
        ],  # type: ignore[arg-type]
        name="img",
    )
    (tmp_path / "img.json").write_text(prof.to_json())
    code, _ = lock_cli(tmp_path, url, "--image", str(tmp_path / "img.json"), "numlike==1.21.6")
    err = capsys.readouterr().err
    assert code == 3
    assert "blocker 1.0 (image) requires numlike<1.20" in err
    assert "easygoing" not in err


def test_machine_local_copies_do_not_change_the_lock(
    tmp_path: Path, upstream, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """One [[packages.wheels]] per file, from the index the resolver chose: a machine whose
    pip configuration adds a file:// index and a find-links folder holding copies of the
    same files writes the same packages as a machine that has only the index."""
    url, _ = upstream
    local = tmp_path / "local-copy"
    shutil.copytree(tmp_path / "index", local)  # a file:// mirror of the same index
    folder = tmp_path / "wheels"
    shutil.copytree(tmp_path / "index" / "files", folder)  # a find-links folder of copies
    made = {}
    for machine, extra in (
        ("a", ""),
        ("b", f"extra-index-url = {local.as_uri()}/simple\nfind-links = {folder}\n"),
    ):
        conf = tmp_path / f"pip-{machine}.conf"
        conf.write_text(f"[global]\nindex-url = {url}\n{extra}")
        monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
        out = tmp_path / machine / "requirements.lock"
        out.parent.mkdir()
        assert main(["lock", "-o", str(out), "--python-version", "3.7", "alpha", "pandaslike"]) == 0
        doc = tomllib.loads((out.parent / "pylock.toml").read_text())
        pins = [line for line in out.read_text().splitlines() if not line.startswith("#")]
        made[machine] = (doc["packages"], doc["requires-python"], doc["environments"], pins)
    assert made["a"] == made["b"]
    wheels = [w for p in made["b"][0] for w in p["wheels"]]
    assert len({w["name"] for w in wheels}) == len(wheels)
    assert all(w["url"].startswith(url.rsplit("/", 1)[0]) for w in wheels)
