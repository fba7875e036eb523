"""`sbom`: what a lock or a packed artifact ships, as CycloneDX 1.6 JSON.

Two steps: the subject (the packages, their files, hashes, core metadata and who requires
whom) is read from a lock plus a wheelhouse, or from an artifact; then `render_sbom` turns
it into the document with cyclonedx-python-lib. The image's packages are a separate group:
nested under one component standing for the image.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from wheelhouse import __version__
from wheelhouse.errors import UsageError
from wheelhouse.model.lock import Lock, LockTarget, Pin
from wheelhouse.model.profile import Profile
from wheelhouse.store.layout import METADATA_SUFFIX, Wheelhouse

if TYPE_CHECKING:
    from cyclonedx.model import ExternalReference, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component
    from cyclonedx.model.contact import OrganizationalEntity
    from cyclonedx.model.license import License
    from cyclonedx.model.tool import ToolRepository

Group = Literal["artifact", "image"]
ROOT_REF = "subject"
IMAGE_REF = "image"
MAX_METADATA = 4 * 1024 * 1024  # a METADATA file larger than this is not read


@dataclass(frozen=True)
class BomPackage:
    """One package the SBOM lists: its file, and who brought it in."""

    name: NormalizedName
    version: str
    group: Group
    filename: str = ""
    sha256: str = ""
    url: str | None = None
    role: str = ""  # the lock's source: install, override, image
    parents: tuple[str, ...] = ()  # names that require it; "" for a direct request
    metadata: Message | None = None  # its core metadata, where it could be read
    built: str = ""  # for a wheel built from a locked sdist: what was built from what

    @property
    def ref(self) -> str:
        return f"{self.group}:{self.name}@{self.version}"


@dataclass(frozen=True)
class BomSubject:
    """What the SBOM describes: a lock or an artifact, its target and its packages."""

    name: str
    target: Mapping[str, str]
    image_name: str
    packages: tuple[BomPackage, ...] = field(default=())


# -- the subject, read from a lock or an artifact ---------------------------------------


def target_properties(target: LockTarget) -> dict[str, str]:
    """The target profile, as the SBOM's metadata properties."""
    return {
        "profile": target.profile_name,
        "profile-digest": target.profile_digest,
        "python-version": target.python_version,
        "implementation": target.implementation,
        "abi": ",".join(target.abis),
        "platform": ",".join(target.platforms),
        "best-tag": target.tags[0] if target.tags else "",
        "environment": target.environment,
    }


def lock_subject(
    lock: Lock, name: str, wheelhouse: Path | None = None, image: Profile | None = None
) -> BomSubject:
    """The lock's packages (metadata from `wheelhouse` where it holds their files) and the
    image's: the whole installed set of `image`, else the image packages the lock uses."""
    wh = Wheelhouse(Path(wheelhouse)) if wheelhouse is not None else None
    packages = [_locked_package(pin, wh) for pin in lock.to_install()]
    packages += _image_packages(lock, image)
    return BomSubject(
        name=name,
        target=target_properties(lock.target),
        image_name=image.name if image is not None else lock.target.profile_name,
        packages=tuple(packages),
    )


def _locked_package(pin: Pin, wh: Wheelhouse | None) -> BomPackage:
    best = pin.best_file
    return BomPackage(
        name=pin.name,
        version=pin.version,
        group="artifact",
        filename=best.filename if best else "",
        sha256=best.sha256 if best else "",
        url=best.url if best else None,
        role=pin.source,
        parents=_parents(pin.via),
        built=_built(pin),
        metadata=_wheelhouse_metadata(wh, best.filename) if wh and best else None,
    )


def _built(pin: Pin) -> str:
    """How a pin locked as an sdist becomes the wheel installed on the target."""
    if not pin.from_sdist:
        return ""
    wheel = pin.built_wheel
    made = f"{wheel.filename} sha256:{wheel.sha256}" if wheel else "a wheel"
    return f"{made}, built by sync --build-with from this sdist"


def _image_packages(lock: Lock, image: Profile | None) -> list[BomPackage]:
    via = {p.name: p.via for p in lock.pins}
    if image is None:
        return [
            BomPackage(p.name, p.version, "image", role="image", parents=_parents(p.via))
            for p in lock.image_provided()
        ]
    out = []
    for dist in image.installed:
        rec = image.file_of(dist)
        out.append(
            BomPackage(
                dist.name,
                dist.version,
                "image",
                filename=rec.filename if rec else "",
                sha256=rec.sha256 if rec else "",
                url=rec.url if rec else None,
                role="image",
                parents=_parents(via.get(dist.name, ())),
            )
        )
    return out


def _parents(via: Sequence[str]) -> tuple[str, ...]:
    """The lock's `via`: package names stay, a requirement file or the command line is ''."""
    return tuple(sorted({"" if v.startswith("-r ") or v == "command line" else v for v in via}))


def _wheelhouse_metadata(wh: Wheelhouse, filename: str) -> Message | None:
    """The file's core metadata from the wheelhouse: the PEP 658 file, else the archive."""
    if not filename:
        return None
    meta = wh.files / (filename + METADATA_SUFFIX)
    if meta.is_file() and meta.stat().st_size <= MAX_METADATA:
        return _headers(meta.read_bytes())
    path = wh.files / filename
    if not path.is_file() or path.stat().st_size > 4 * 1024**3:
        return None
    from wheelhouse.errors import IntegrityError
    from wheelhouse.net.metadata import metadata_from_sdist, metadata_from_wheel_zip

    try:
        if filename.endswith(".whl"):
            import zipfile

            with zipfile.ZipFile(path) as zf:
                return _headers(metadata_from_wheel_zip(zf, filename))
        return _headers(metadata_from_sdist(path.read_bytes(), filename))
    except (IntegrityError, OSError, ValueError, EOFError):
        return None  # an unreadable archive is verify's business; the SBOM lists what it can


def _headers(data: bytes) -> Message:
    return HeaderParser().parsestr(data[:MAX_METADATA].decode("utf-8", errors="replace"))


def artifact_subject(path: Path, image: Profile | None = None) -> BomSubject:
    """The packages of a folder made by `install`, or of a packed artifact."""
    from wheelhouse.artifact.pack import unpack_artifact

    path = Path(path)
    if path.is_file():
        with tempfile.TemporaryDirectory(prefix="wheelhouse-sbom-") as tmp:
            return _tree_subject(unpack_artifact(path, Path(tmp) / "tree"), path.name, image)
    if not path.is_dir():
        raise UsageError(f"{path} is neither a folder nor an artifact file")
    return _tree_subject(path, path.name, image)


def _tree_subject(root: Path, name: str, image: Profile | None) -> BomSubject:
    from wheelhouse.artifact.manifest import read_manifest
    from wheelhouse.model.profile import bare_profile

    manifest = read_manifest(root)
    if manifest is None:
        raise UsageError(f"{name} has no manifest: it was not made by wheelhouse install")
    minor = ".".join(manifest.python_version.split(".")[:2])
    site = root / "lib" / f"python{minor}" / "site-packages"
    metas = _dist_metadata(site)
    names = {canonicalize_name(d.name) for d in manifest.dists}
    required = _required_by(metas, names)
    packages = [
        BomPackage(
            name=canonicalize_name(d.name),
            version=d.version,
            group="artifact",
            filename=d.wheel,
            sha256=d.sha256,
            role="install",
            parents=tuple(sorted(required.get(canonicalize_name(d.name), {""}))),
            built=f"from the sdist sha256:{d.built_from}" if d.built_from else "",
            metadata=metas.get(canonicalize_name(d.name)),
        )
        for d in manifest.dists
    ]
    if image is not None:
        packages += _image_packages(Lock(LockTarget.from_profile(image), (), ""), image)
    target = image or bare_profile(manifest.python_version)
    props = target_properties(LockTarget.from_profile(target))
    props.update(profile=manifest.profile_name, **{"profile-digest": manifest.profile_digest})
    return BomSubject(name, props, manifest.profile_name, tuple(packages))


def _dist_metadata(site: Path) -> dict[NormalizedName, Message]:
    out = {}
    for info in sorted(site.glob("*.dist-info")) if site.is_dir() else []:
        meta = info / "METADATA"
        if meta.is_file() and meta.stat().st_size <= MAX_METADATA:
            headers = _headers(meta.read_bytes())
            if headers.get("Name"):
                out[canonicalize_name(str(headers["Name"]))] = headers
    return out


def _required_by(
    metas: Mapping[NormalizedName, Message], present: set[NormalizedName]
) -> dict[NormalizedName, set[str]]:
    """Who requires whom among the artifact's own distributions (by Requires-Dist)."""
    out: dict[NormalizedName, set[str]] = {}
    for parent, meta in metas.items():
        for text in meta.get_all("Requires-Dist") or ():
            try:
                child = canonicalize_name(Requirement(str(text)).name)
            except InvalidRequirement:
                continue
            if child in present and child != parent:
                out.setdefault(child, set()).add(parent)
    return out


# -- the document ------------------------------------------------------------------------


def render_sbom(subject: BomSubject, timestamp: datetime | None = None) -> str:
    """The CycloneDX 1.6 JSON document; the same subject and time give the same bytes."""
    from cyclonedx.output.json import JsonV1Dot6

    text: str = JsonV1Dot6(build_bom(subject, timestamp)).output_as_string(indent=2)
    return text + "\n"


def build_bom(subject: BomSubject, timestamp: datetime | None = None) -> Bom:
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType

    root = Component(name=subject.name, type=ComponentType.APPLICATION, bom_ref=ROOT_REF)
    own = {p.name: _component(p) for p in subject.packages if p.group == "artifact"}
    image = {p.name: _component(p) for p in subject.packages if p.group == "image"}
    image_group = Component(
        name=subject.image_name,
        type=ComponentType.CONTAINER,
        bom_ref=IMAGE_REF,
        description="the packages the target image already has (not shipped)",
        components=image.values(),
    )
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, "wheelhouse-sbom:" + _digest(subject)),
        metadata=BomMetaData(
            component=root,
            timestamp=timestamp or datetime.now(timezone.utc),
            properties=_properties({f"target:{k}": v for k, v in subject.target.items()}),
            tools=_tools(),
        ),
        components=[*own.values(), *([image_group] if image else [])],
    )
    _register_graph(bom, subject, root, own, image)
    return bom


def _component(p: BomPackage) -> Component:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentScope
    from packageurl import PackageURL

    qualifiers = {"file_name": p.filename} if p.filename else None
    return Component(
        name=p.name,
        version=p.version,
        bom_ref=p.ref,
        purl=PackageURL(type="pypi", name=p.name, version=p.version, qualifiers=qualifiers),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=p.sha256)] if p.sha256 else [],
        scope=ComponentScope.REQUIRED if p.group == "artifact" else ComponentScope.EXCLUDED,
        licenses=_licenses(p.metadata) if p.metadata else [],
        supplier=_supplier(p.metadata) if p.metadata else None,
        description=str(p.metadata.get("Summary") or "") or None if p.metadata else None,
        external_references=_references(p),
        properties=_properties({"source": p.role, "built": p.built}),
    )


def _register_graph(
    bom: Bom,
    subject: BomSubject,
    root: Component,
    own: Mapping[NormalizedName, Component],
    image: Mapping[NormalizedName, Component],
) -> None:
    """Each package depends on what its `parents` say requires it; the subject on the
    directly requested ones. The artifact's copy stands for an overridden name."""
    by_name: dict[str, Component] = {str(k): v for k, v in [*image.items(), *own.items()]}
    children: dict[str, list[Component]] = {ROOT_REF: []}
    for p in subject.packages:
        me = (own if p.group == "artifact" else image)[p.name]
        for parent in p.parents or ("",):
            if parent and parent not in by_name:
                continue  # required by something outside this SBOM (e.g. the image itself)
            key = str(by_name[parent].bom_ref.value) if parent else ROOT_REF
            children.setdefault(key, []).append(me)
    everything = {ROOT_REF: root, **{str(c.bom_ref.value): c for c in by_name.values()}}
    for ref in sorted(everything):
        bom.register_dependency(everything[ref], children.get(ref, []))


def _licenses(meta: Message) -> list[License]:
    """License-Expression (an SPDX expression), else License when it is a short name or id,
    else the License classifiers by name."""
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model.license import DisjunctiveLicense

    factory = LicenseFactory()
    expression = str(meta.get("License-Expression") or "").strip()
    if expression:
        return [factory.make_from_string(expression)]
    text = str(meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 80 and text.upper() != "UNKNOWN":
        return [factory.make_from_string(text)]
    names = [
        str(c).rsplit("::", 1)[-1].strip()
        for c in meta.get_all("Classifier") or ()
        if str(c).startswith("License ::") and str(c).count("::") >= 2
    ]
    return [DisjunctiveLicense(name=n) for n in sorted(set(names))]


def _supplier(meta: Message) -> OrganizationalEntity | None:
    """Who supplies the package: its maintainer, else its author (name and e-mail)."""
    from cyclonedx.model.contact import OrganizationalContact, OrganizationalEntity

    for who, mail in (("Maintainer", "Maintainer-email"), ("Author", "Author-email")):
        name = str(meta.get(who) or "").strip()
        pairs = email.utils.getaddresses([str(meta.get(mail) or "")])
        address = next((a for _, a in pairs if "@" in a), "")
        name = name or next((n for n, _ in pairs if n), "")
        if name or address:
            contact = OrganizationalContact(name=name or None, email=address or None)
            return OrganizationalEntity(name=name or address, contacts=[contact])
    return None


def _references(p: BomPackage) -> list[ExternalReference]:
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri

    refs = []
    if p.url and p.url.startswith(("http://", "https://")):
        refs.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(p.url)))
    home = str(p.metadata.get("Home-page") or "").strip() if p.metadata else ""
    if home.startswith(("http://", "https://")):
        refs.append(ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(home)))
    return refs


def _properties(values: Mapping[str, str]) -> list[Property]:
    from cyclonedx.model import Property

    return [Property(name=f"wheelhouse:{k}", value=v) for k, v in sorted(values.items()) if v]


def _tools() -> ToolRepository:
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import ToolRepository

    me = Component(type=ComponentType.APPLICATION, name="wheelhouse", version=__version__)
    return ToolRepository(components=[me])


def _digest(subject: BomSubject) -> str:
    """What the serial number is derived from: the same subject gets the same number."""
    doc = {
        "name": subject.name,
        "target": dict(subject.target),
        "packages": sorted((p.ref, p.filename, p.sha256) for p in subject.packages),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
