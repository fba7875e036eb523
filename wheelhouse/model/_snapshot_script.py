# Runs under the TARGET's interpreter (Python 3.6+; stdlib only, no importlib.metadata):
# prints one JSON document describing the interpreter and the distributions it can import.
import email.parser
import json
import os
import platform
import sys
import sysconfig


def _marker_env():
    impl = sys.implementation
    iv = "{0.major}.{0.minor}.{0.micro}".format(impl.version)
    if impl.version.releaselevel != "final":
        iv += impl.version.releaselevel[0] + str(impl.version.serial)
    return {
        "implementation_name": impl.name,
        "implementation_version": iv,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _glibc():
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        return None
    if not value or not value.startswith("glibc "):
        return None
    return value.split()[1]


def requires_txt_to_dist(text: str) -> "list[str]":
    """setuptools' egg-info requires.txt as Requires-Dist strings."""
    out, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        extra, _, marker = section.partition(":")
        conds = []
        if marker:
            conds.append("(" + marker + ")")
        if extra:
            conds.append('extra == "' + extra + '"')
        out.append(line + ("; " + " and ".join(conds) if conds else ""))
    return out


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def _dist(entry_path, name):
    full = os.path.join(entry_path, name)
    if name.endswith(".dist-info"):
        meta_path = os.path.join(full, "METADATA")
    elif os.path.isdir(full):
        meta_path = os.path.join(full, "PKG-INFO")
    else:
        meta_path = full  # a single-file .egg-info
    if not os.path.isfile(meta_path):
        return None
    msg = email.parser.HeaderParser().parsestr(_read(meta_path))
    if not msg.get("Name") or not msg.get("Version"):
        return None
    requires = msg.get_all("Requires-Dist") or []
    if name.endswith(".egg-info") and os.path.isdir(full) and not requires:
        req_txt = os.path.join(full, "requires.txt")
        requires = requires_txt_to_dist(_read(req_txt)) if os.path.isfile(req_txt) else []
    return {
        "name": msg["Name"].strip(),
        "version": msg["Version"].strip(),
        "requires_dist": [r.strip() for r in requires],
        "requires_python": (msg.get("Requires-Python") or "").strip() or None,
        "location": entry_path,
        "modules": _modules(full),
    }


def _modules(info):
    """Top-level importable names of a distribution: top_level.txt, else its RECORD."""
    if not os.path.isdir(info):
        return []
    top = os.path.join(info, "top_level.txt")
    if os.path.isfile(top):
        names = [n.strip() for n in _read(top).splitlines()]
        return sorted(set(n for n in names if n and "/" not in n and n.isidentifier()))
    record = os.path.join(info, "RECORD")
    if not os.path.isfile(record):
        return []
    out = set()
    for line in _read(record).splitlines():
        path = line.rsplit(",", 2)[0].strip('"')
        first, _, rest = path.partition("/")
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__"):
            continue
        name = first if rest else first.split(".", 1)[0] if first.endswith((".py", ".so")) else ""
        if name.isidentifier():
            out.add(name)
    return sorted(out)


def _distributions():
    seen, out = set(), []
    here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else None
    for entry in sys.path:
        entry = entry or os.getcwd()
        if not os.path.isdir(entry) or os.path.abspath(entry) == here:
            continue
        try:
            names = sorted(os.listdir(entry))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            dist = _dist(entry, name)
            if dist is None:
                continue
            key = dist["name"].lower().replace("_", "-").replace(".", "-")
            if key in seen:
                continue  # an earlier path entry shadows it, as at import time
            seen.add(key)
            out.append(dist)
    return out


def main():
    json.dump(
        {
            "python_version": platform.python_version(),
            "implementation": sys.implementation.name,
            "abiflags": getattr(sys, "abiflags", ""),
            "soabi": sysconfig.get_config_var("SOABI"),
            "platform": sysconfig.get_platform(),
            "glibc": _glibc(),
            "pointer_bits": 64 if sys.maxsize > 2**32 else 32,
            "executable": sys.executable,
            "prefix": sys.prefix,
            "markers": _marker_env(),
            "distributions": _distributions(),
        },
        sys.stdout,
        indent=1,
        sort_keys=True,
    )


if __name__ == "__main__":
    main()
