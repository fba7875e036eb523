from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from tests.helpers import build_wheels, config_for, make_lock, upstream, write_pylock
from tests.wheelfactory import make_wheel
from wheelhouse.mirror.catalog import load_catalog
from wheelhouse.mirror.static_index import (
    IndexEntry,
    render_project_html,
    render_project_json,
    render_root_html,
    write_index,
)
from wheelhouse.mirror.sync import SyncOptions, sync
from wheelhouse.store.layout import Wheelhouse

SHA = "a" * 64
MSHA = "b" * 64


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_project_html_has_hashes_requires_python_and_both_metadata_spellings() -> None:
    e = IndexEntry(
        "demo_pkg-1.0+local-py3-none-any.whl", "1.0+local", SHA, 10, "<4,>=3.7", None, MSHA
    )
    page = render_project_html("demo-pkg", [e])
    assert (
        f'<a href="../../files/demo_pkg-1.0%2Blocal-py3-none-any.whl#sha256={SHA}" '
        f'data-requires-python="&lt;4,&gt;=3.7" data-core-metadata="sha256={MSHA}" '
        f'data-dist-info-metadata="sha256={MSHA}">demo_pkg-1.0+local-py3-none-any.whl</a>'
    ) in page
    assert '<meta name="pypi:repository-version" content="1.1">' in page


def test_project_json_is_pep_691_v1_1() -> None:
    entries = [
        IndexEntry("p-1.10-py3-none-any.whl", "1.10", SHA, 10, None, "2021-01-01T00:00:00.000000Z"),
        IndexEntry("p-1.9.tar.gz", "1.9", SHA, 5),
    ]
    doc = json.loads(render_project_json("p", entries))
    assert doc["meta"] == {"api-version": "1.1"}
    assert doc["versions"] == ["1.9", "1.10"]
    f = doc["files"][0]
    assert f == {
        "filename": "p-1.10-py3-none-any.whl",
        "url": "../../files/p-1.10-py3-none-any.whl",
        "hashes": {"sha256": SHA},
        "size": 10,
        "upload-time": "2021-01-01T00:00:00.000000Z",
    }
    assert render_project_json("p", entries) == render_project_json("p", entries[::-1])


def test_root_lists_projects_sorted() -> None:
    page = render_root_html(["b", "a"])
    assert page.index('href="a/"') < page.index('href="b/"')


def test_same_wheelhouse_same_bytes(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 8)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    assert sync([lock], tmp_path / "a", config=config_for(url), options=SyncOptions(jobs=1)).ok
    assert sync([lock], tmp_path / "b", config=config_for(url), options=SyncOptions(jobs=8)).ok
    a, b = _tree(tmp_path / "a" / "simple"), _tree(tmp_path / "b" / "simple")
    assert a == b and len(a) == 2 + 2 * 8
    # regenerate from scratch (no manifest, index deleted): the same bytes again
    shutil.rmtree(tmp_path / "b" / "simple")
    (tmp_path / "b" / "wheelhouse.json").unlink()
    records = write_index(Wheelhouse(tmp_path / "b"), {})
    assert _tree(tmp_path / "b" / "simple") != {}
    # upload-time came from the lock; without the manifest it is unknown, all else equal
    regenerated = _tree(tmp_path / "b" / "simple")
    assert regenerated["index.html"] == a["index.html"]
    assert regenerated["pkg0/index.html"] == a["pkg0/index.html"]
    assert set(records) == {w.name for w in wheels}


def test_index_follows_files_dropped_in_and_removed(tmp_path: Path) -> None:
    wh = Wheelhouse(tmp_path / "wh")
    wh.create()
    wheel = make_wheel(wh.files, "extra", "2.0", requires_python=">=3.6")
    (wh.files / "README.txt").write_text("not a distribution")
    records = write_index(wh, load_catalog(wh))
    page = json.loads((wh.simple / "extra" / "index.json").read_text())
    (f,) = page["files"]
    assert f["hashes"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert f["requires-python"] == ">=3.6"
    meta = (wh.files / (wheel.name + ".metadata")).read_bytes()
    assert f["core-metadata"]["sha256"] == hashlib.sha256(meta).hexdigest()
    assert set(records) == {wheel.name}
    wheel.unlink()
    write_index(wh, records)
    assert not (wh.simple / "extra").exists()
    assert not (wh.files / (wheel.name + ".metadata")).exists()
    assert json.loads((wh.simple / "index.json").read_text())["projects"] == []


def test_unchanged_pages_keep_their_mtime(tmp_path: Path, serve: Any) -> None:
    wheels = build_wheels(tmp_path / "w", 2)
    url, _ = serve(upstream(tmp_path, wheels).root)
    lock = write_pylock(tmp_path / "pylock.toml", make_lock(wheels, url))
    assert sync([lock], tmp_path / "wh", config=config_for(url)).ok
    page = tmp_path / "wh" / "simple" / "pkg0" / "index.html"
    before = page.stat().st_mtime_ns
    assert sync([lock], tmp_path / "wh", config=config_for(url)).ok
    assert page.stat().st_mtime_ns == before
