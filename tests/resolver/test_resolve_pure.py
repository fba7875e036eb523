"""resolve() against an in-memory repository: no network, no files, just the logic."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wheelhouse.errors import ResolutionError
from wheelhouse.model.profile import InstalledDist, Profile, bare_profile
from wheelhouse.model.requirements import Req
from wheelhouse.net.metadata import CoreMetadata
from wheelhouse.net.pages import DistFile, dist_file
from wheelhouse.resolver.resolve import resolve


class FakeRepository:
    """Projects as {name: {version: (requires_dist, wheel tag)}}."""

    def __init__(self, projects: dict[str, dict[str, tuple[tuple[str, ...], str]]]) -> None:
        self.projects = projects
        self.metadata_reads: list[str] = []

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        out = []
        for version, (_, tag) in self.projects.get(name, {}).items():
            fname = f"{name.replace('-', '_')}-{version}-{tag}.whl"
            f = dist_file(
                fname, f"https://files.invalid/{fname}", "fake", hashes={"sha256": "0" * 64}
            )
            assert f is not None
            out.append(f)
        return out

    def metadata(self, file: DistFile) -> CoreMetadata:
        self.metadata_reads.append(file.filename)
        requires, _ = self.projects[file.name][str(file.version)]
        return CoreMetadata(file.name, str(file.version), requires, None)

    def exists(self, name: NormalizedName) -> bool:
        return name in self.projects

    def sources(self) -> list[str]:
        return ["fake"]

    def prefetch(
        self,
        names: Iterable[NormalizedName],
        choose: Callable[[Sequence[DistFile]], DistFile | None],
    ) -> None:
        pass


PY3 = "py3-none-any"
CP37 = "cp37-cp37m-manylinux2014_x86_64"


def user(*texts: str) -> list[Req]:
    return [Req.parse(t, "user", f"argument {i}") for i, t in enumerate(texts, 1)]


def pins(profile: Profile, repo: FakeRepository, *reqs: str) -> dict[str, tuple[str, bool]]:
    result = resolve(user(*reqs), profile, repo)
    return {p.name: (p.version, p.from_image) for p in result.packages if p.reachable}


def test_markers_follow_the_target_not_the_host() -> None:
    repo = FakeRepository(
        {
            "app": {"1.0": (('backport; python_version < "3.8"', "core"), PY3)},
            "backport": {"2.0": ((), PY3)},
            "core": {"1.0": ((), CP37), "2.0": ((), "cp311-cp311-manylinux2014_x86_64")},
        }
    )
    got = pins(bare_profile("3.7", "manylinux2014_x86_64"), repo, "app")
    assert got == {"app": ("1.0", False), "backport": ("2.0", False), "core": ("1.0", False)}


def test_image_copy_kept_and_lazy_metadata() -> None:
    repo = FakeRepository(
        {
            "app": {"1.0": (("numlike>=1.0",), PY3)},
            "numlike": {str(v): ((), CP37) for v in ("1.19.5", "1.20.0", "1.21.6")},
        }
    )
    image = bare_profile("3.7.16", "manylinux2014_x86_64").with_installed(
        [InstalledDist(canonicalize_name("numlike"), "1.19.5", (), None)]
    )
    got = pins(image, repo, "app")
    assert got["numlike"] == ("1.19.5", True)
    assert not any(f.startswith("numlike") for f in repo.metadata_reads)


def test_override_refused_when_an_image_package_objects() -> None:
    repo = FakeRepository({"numlike": {"1.21.6": ((), CP37)}})
    image = bare_profile("3.7.16", "manylinux2014_x86_64").with_installed(
        [
            InstalledDist(canonicalize_name("numlike"), "1.19.5", (), None),
            InstalledDist(canonicalize_name("azureml-x"), "1.2", ("numlike<1.20",), None),
        ]
    )
    with pytest.raises(ResolutionError, match=r"azureml-x 1.2 \(image\) requires numlike<1.20"):
        resolve(user("numlike==1.21.6"), image, repo)


def test_newest_fitting_version_wins() -> None:
    repo = FakeRepository(
        {"lib": {"1.0": ((), PY3), "1.5": ((), CP37), "2.0": ((), "cp39-cp39-win_amd64")}}
    )
    result = resolve(user("lib"), bare_profile("3.7", "manylinux2014_x86_64"), repo)
    assert [(p.name, p.version) for p in result.packages] == [("lib", "1.5")]
    assert Version(result.packages[0].version) == Version("1.5")


def test_one_copy_of_each_file_from_the_first_source(caplog: pytest.LogCaptureFixture) -> None:
    """The same file on the index and in a find-links folder is one candidate file, the
    index's; a copy with other bytes under the same name is left out, with a warning."""
    from wheelhouse.resolver.candidates import Options, filter_files

    profile = bare_profile("3.7")
    name = "alpha-1.0-py3-none-any.whl"
    copies = [
        dist_file(name, f"https://pypi.invalid/{name}", "pypi", hashes={"sha256": "a" * 64}),
        dist_file(name, f"file:///opt/wheels/{name}", "/opt/wheels"),  # same file, no hash
        dist_file(name, f"file:///srv/mirror/{name}", "mirror", hashes={"sha256": "b" * 64}),
    ]
    found = filter_files([c for c in copies if c], profile, Options(), profile.tag_priority())
    assert [f.url for f in found.candidates[Version("1.0")]] == [f"https://pypi.invalid/{name}"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{name} on mirror differs from the copy on pypi (another sha256); locking the one on pypi"
    ]
