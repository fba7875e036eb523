"""`image-env --wheelhouse az://…`: the stand-in built from a wheelhouse in Azure Blob Storage
(Azurite), through the local copy, under the real Python 3.7."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import config_for
from tests.localserver import serve_folder
from tests.wheelfactory import SimpleIndex, make_wheel
from wheelhouse.cli import main
from wheelhouse.mirror.sync import sync
from wheelhouse.model.profile import InstalledDist, bare_profile
from wheelhouse.resolver.locker import lock_image


def test_image_env_from_blob_storage(tmp_path: Path, python37: str, container: str) -> None:
    upstream = SimpleIndex(tmp_path / "upstream")
    upstream.add(make_wheel(tmp_path / "dists", "imagepkg", "1.0"))
    upstream.write()
    installed = [InstalledDist("imagepkg", "1.0", (), None)]  # type: ignore[arg-type]
    prof = bare_profile("3.7.16", "manylinux_2_27_x86_64").with_installed(
        installed, name="tiny-image"
    )
    (tmp_path / "image.json").write_text(prof.to_json())
    az = f"az://{container}/wh"
    with serve_folder(upstream.root) as (url, _):
        lock_image(prof, config_for(url), tmp_path / "image.lock")
        report = sync([tmp_path / "pylock.image.toml"], az, config=config_for(url))
    assert report.ok, report.failed
    env = tmp_path / "image-env"
    argv = ["image-env", str(env), "--image", str(tmp_path / "image.json")]
    assert main([*argv, "--python", python37, "--wheelhouse", az]) == 0
    out = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import imagepkg; print(imagepkg.__name__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "imagepkg"
