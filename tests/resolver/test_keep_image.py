"""Keeping the image intact, against an in-memory repository: the image's versions are
preferred over newer dependencies, overrides only where forced (fewest, with their chain),
active extras steer the choice, and unreadable or legacy metadata does not abort."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse.errors import HashMismatch, IntegrityError, ResolutionError
from wheelhouse.model.profile import InstalledDist, Profile, bare_profile
from wheelhouse.model.requirements import Req
from wheelhouse.net.metadata import CoreMetadata
from wheelhouse.net.pages import DistFile, dist_file
from wheelhouse.resolver.resolve import KeepImage, Resolution, resolve

Project = dict[str, tuple[str, ...]]  # version -> Requires-Dist


class Repo:
    """Pure wheels {name: {version: requires}}; `broken` releases have unreadable metadata."""

    def __init__(
        self,
        projects: dict[str, Project],
        broken: Iterable[str] = (),
        python: dict[str, str] | None = None,  # "name version" -> Requires-Python
    ) -> None:
        self.projects = projects
        self.broken = set(broken)
        self.tampered: set[str] = set()
        self.python = python or {}
        self.reads: list[str] = []

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        out = []
        for version in self.projects.get(name, {}):
            fname = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
            f = dist_file(fname, f"https://files.invalid/{fname}", "fake", hashes={"sha256": "0"})
            assert f is not None
            out.append(f)
        return out

    def metadata(self, file: DistFile) -> CoreMetadata:
        label = f"{file.name} {file.version}"
        self.reads.append(label)
        if label in self.broken:
            raise IntegrityError(f"{file.filename}: unreadable archive (bad zip)")
        if label in self.tampered:
            raise HashMismatch(f"metadata of {file.filename}: expected sha256:0, received …")
        requires = self.projects[file.name][str(file.version)]
        return CoreMetadata(file.name, str(file.version), requires, self.python.get(label))

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

    def warm(self, files: Sequence[DistFile]) -> None:
        pass


def image(*dists: tuple[str, str, tuple[str, ...]]) -> Profile:
    return bare_profile("3.7.16", "manylinux2014_x86_64").with_installed(
        InstalledDist(canonicalize_name(n), v, r, None) for n, v, r in dists
    )


def run(profile: Profile, repo: Repo, *reqs: str, keep: KeepImage | None = None) -> Resolution:
    user = [Req.parse(t, "user", f"argument {i}") for i, t in enumerate(reqs, 1)]
    return resolve(user, profile, repo, keep=keep or KeepImage())


def chosen(result: Resolution) -> dict[str, str]:
    return {p.name: p.version + ("*" if p.overrides else "") for p in result.packages}


TE_IMAGE = image(("typing-extensions", "4.2.0", ()), ("tool", "1.0", ("typing-extensions>=4",)))


def test_an_older_release_that_accepts_the_image_beats_a_newer_one_that_does_not() -> None:
    repo = Repo(
        {
            "app": {"2.0": ("typing-extensions>=4.5",), "1.5": ("typing-extensions>=4.1",)},
            "typing-extensions": {"4.2.0": (), "4.7.1": ()},
        }
    )
    got = chosen(run(TE_IMAGE, repo, "app"))
    assert got["app"] == "1.5" and got["typing-extensions"] == "4.2.0"


def test_override_only_when_forced_and_the_chain_says_why() -> None:
    repo = Repo(
        {
            "app": {"2.0": ("lib>=1",)},
            "lib": {"1.0": ("typing-extensions>=4.5",)},
            "typing-extensions": {"4.7.1": ()},
        }
    )
    result = run(TE_IMAGE, repo, "app")
    te = next(p for p in result.packages if p.name == "typing-extensions")
    assert te.overrides and te.version == "4.7.1"
    assert te.override_chain == (
        "you asked app (command line) → app 2.0 requires lib>=1 → "
        "lib 1.0 requires typing-extensions>=4.5"
    )


def test_fewest_overrides_only_the_package_in_the_way_moves() -> None:
    profile = image(("one", "1.0", ()), ("two", "1.0", ()))
    repo = Repo(
        {
            "app": {"1.0": ("a", "b")},
            "a": {"2.0": ("one>=2",), "1.0": ("one>=1",)},
            "b": {"1.0": ("two>=2",)},
            "one": {"2.0": ()},
            "two": {"2.0": ()},
        }
    )
    got = chosen(run(profile, repo, "app"))
    assert got["two"] == "2.0*"  # forced by b, which has no other release
    assert got["one"] == "1.0" and got["a"] == "1.0"  # a steps back to keep the image's one


def test_a_users_explicit_pin_wins() -> None:
    repo = Repo({"typing-extensions": {"4.7.1": (), "4.2.0": ()}})
    result = run(TE_IMAGE, repo, "typing-extensions==4.7.1")
    assert chosen(result)["typing-extensions"] == "4.7.1*"
    assert result.packages[-1].override_chain.startswith("you asked typing-extensions==4.7.1")


def test_no_overrides_names_the_chain() -> None:
    repo = Repo({"app": {"1.0": ("typing-extensions>=4.5",)}, "typing-extensions": {"4.7.1": ()}})
    with pytest.raises(ResolutionError) as err:
        run(TE_IMAGE, repo, "app", keep=KeepImage(overrides=False))
    text = str(err.value)
    assert "typing-extensions 4.7.1 would replace the image's 4.2.0" in text
    assert "you asked app (command line) → app 1.0 requires typing-extensions>=4.5" in text


def test_the_images_own_requirements_never_force_an_override() -> None:
    profile = image(("numlike", "1.19.5", ()), ("azureml-x", "1.2", ("numlike<1.20",)))
    repo = Repo(
        {
            "app": {"1.0": ("numlike>=1.21",)},
            "numlike": {"1.21.6": ()},
            "azureml-x": {"1.3": ("numlike",)},  # a newer server exists: never used
        }
    )
    with pytest.raises(ResolutionError, match=r"azureml-x 1.2 \(image\) requires numlike<1.20"):
        run(profile, repo, "app")


EXTRA_REPO = {
    "pkg-a": {
        "2.0": ('b>=2; extra == "b"', 'c>=1; extra == "c"'),
        "1.0": ('b>=1; extra == "b"',),
    },
    "b": {"2.0": (), "1.0": ()},
    "c": {"1.0": ()},
}


def test_an_active_extra_steers_the_choice_to_a_release_that_fits_the_image() -> None:
    profile = image(("b", "1.0", ()))
    result = run(profile, Repo(EXTRA_REPO), "pkg-a")
    assert chosen(result) == {"b": "1.0", "pkg-a": "1.0"}
    assert [a.shown for a in result.active_extras] == ["pkg-a[b]: b 1.0 from the image"]


def test_active_extras_can_be_ignored() -> None:
    profile = image(("b", "1.0", ()))
    result = run(profile, Repo(EXTRA_REPO), "pkg-a", keep=KeepImage(active_extras=False))
    assert chosen(result)["pkg-a"] == "2.0" and result.active_extras == ()


def test_an_extra_is_inactive_while_something_it_names_is_missing() -> None:
    profile = image(("c", "0.5", ()))  # c present but too old: only c's extra would bind
    repo = Repo({"pkg-a": {"2.0": ('b>=2; extra == "bc"', 'c>=1; extra == "bc"')}})
    result = run(profile, repo, "pkg-a")
    assert chosen(result)["pkg-a"] == "2.0" and "b" not in chosen(result)
    assert result.active_extras == ()


def test_an_active_extra_overrides_only_when_no_release_fits() -> None:
    profile = image(("b", "1.0", ()))
    repo = Repo({"pkg-a": {"2.0": ('b>=2; extra == "b"',)}, "b": {"2.0": ()}})
    result = run(profile, repo, "pkg-a")
    b = next(p for p in result.packages if p.name == "b")
    assert b.overrides and b.override_chain.endswith("pkg-a 2.0 [b] (active extra) requires b>=2")


def test_a_release_with_unreadable_metadata_is_skipped() -> None:
    repo = Repo({"lib": {"2.0": (), "1.0": ()}}, broken=["lib 2.0"])
    result = run(image(), repo, "lib")
    assert chosen(result) == {"lib": "1.0"}
    assert any("skipped lib 2.0: unreadable metadata" in n for n in result.notes)


def test_a_malformed_requirement_skips_that_release_only() -> None:
    repo = Repo({"lib": {"2.0": ("dep (>>>1",), "1.0": ("dep",)}, "dep": {"1.0": ()}})
    result = run(image(), repo, "lib")
    assert chosen(result)["lib"] == "1.0"
    assert any("skipped lib 2.0" in n and "dep (>>>1" in n for n in result.notes)


def test_a_hash_mismatch_is_never_skipped_past() -> None:
    repo = Repo({"lib": {"2.0": (), "1.0": ()}})
    repo.tampered.add("lib 2.0")
    with pytest.raises(HashMismatch):
        run(image(), repo, "lib")


def test_when_nothing_else_fits_the_error_names_the_unreadable_release() -> None:
    repo = Repo({"lib": {"2.0": ()}}, broken=["lib 2.0"])
    with pytest.raises(ResolutionError, match=r"lib 2.0: its metadata cannot be read"):
        run(image(), repo, "lib")


def test_legacy_metadata_is_read_as_pip_read_it() -> None:
    repo = Repo(
        {"old": {"0.9": ("pytz (>dev)", "six>=1.0.*")}, "pytz": {"2022.1": ()}, "six": {"1.16": ()}}
    )
    result = run(image(), repo, "old")
    assert chosen(result) == {"old": "0.9", "pytz": "2022.1", "six": "1.16"}
    assert any("read 'pytz (>dev)' as 'pytz'" in n for n in result.notes)


def test_the_hint_names_a_release_that_fits_the_targets_python_too() -> None:
    # the index gives no Requires-Python: only the metadata says 25.1 and 26.1 need more
    repo = Repo(
        {"attrs": {"26.1.0": (), "25.1.0": (), "24.2.0": ()}},
        python={"attrs 26.1.0": ">=3.9", "attrs 25.1.0": ">=3.8"},
    )
    with pytest.raises(ResolutionError) as err:
        run(image(), repo, "attrs==25.1.0")
    assert str(err.value).endswith(
        "you asked attrs==25.1.0 (argument 1): attrs 25.1.0: its metadata's Requires-Python "
        ">=3.8 excludes 3.7.16; the newest attrs with a wheel for the target is 24.2.0"
    )


def test_a_conflict_through_an_active_extra_says_how_to_opt_out() -> None:
    # the image's own server needs b<2; pkg-a's only release integrates with b>=2
    profile = image(("b", "1.0", ()), ("server", "1.0", ("b<2",)))
    repo = Repo({"pkg-a": {"2.0": ('b>=2; extra == "b"',)}, "b": {"2.0": ()}})
    with pytest.raises(ResolutionError) as err:
        run(profile, repo, "pkg-a")
    assert "pkg-a 2.0 [b] (active extra) requires b>=2" in str(err.value)
    assert "lock --ignore-active-extras" in str(err.value)
    result = run(profile, repo, "pkg-a", keep=KeepImage(active_extras=False))
    assert chosen(result)["pkg-a"] == "2.0"
