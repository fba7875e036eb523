"""An nginx configuration that serves a wheelhouse's static tree the way `serve` does.

`render_nginx_config` is a pure renderer: options in, configuration text out (same options,
same bytes). The page a request gets follows PEP 691 content negotiation as
`wheelhouse.mirror.protocol.negotiate` does it, written as nginx ``map`` blocks: the Accept
headers pip and uv send are looked up in a hash (the hot path: one lookup); any other
header goes through regular expressions that read each media type's q-value, scale it to
four digits and compare the numbers digit by digit. ``?format=`` wins over Accept, as in
`serve`. Files get ETags, Range and If-None-Match from nginx itself; PEP 658 ``.metadata``
files are served as text. Nothing outside ``simple/`` and ``files/`` is reachable.

Differences from `serve`, by design: a project name that is not in PEP 503's normal form is
not redirected to it (pip and uv always ask for the normal form) but answered 404; ``/ready``
says whether the root index is present, not how old it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wheelhouse import __version__
from wheelhouse.errors import UsageError
from wheelhouse.net.pages import HTML_TYPE, JSON_TYPE

# What the clients send (the hot path: one hash lookup instead of the regular expressions).
PIP_ACCEPT = f"{JSON_TYPE}, {HTML_TYPE}; q=0.1, text/html; q=0.01"  # pip >= 22.2
UV_ACCEPT = f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01"  # uv (and wheelhouse)
KNOWN_ACCEPT = {
    PIP_ACCEPT: "json",
    UV_ACCEPT: "json",
    JSON_TYPE: "json",
    "text/html": "text",  # pip before 22.2
    "*/*": "text",
    HTML_TYPE: "html",
}
PAGE_TYPES = {"json": JSON_TYPE, "html": HTML_TYPE, "text": "text/html"}
# ?format= values (raw query text: "+" may arrive as is or percent-encoded)
_FORMATS = {
    JSON_TYPE: "json",
    "application/vnd.pypi.simple.latest+json": "json",
    HTML_TYPE: "html",
    "application/vnd.pypi.simple.latest+html": "html",
    "text/html": "text",
}
_LISTEN = re.compile(r"^(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?[0-9]{1,5}$")
_SAFE_TEXT = re.compile(r"^[^\s;{}'\"\\$#]+$")  # a path or name nginx reads as one word

# One media range of the Accept header with its q (named capture), as a regular expression
# for an nginx map (PCRE). Parameters before q= are skipped; no q= means 1.
_RANGE = r"(?:^|,)\s*{media}\s*(?:;[^,]*?q\s*=\s*(?<{cap}>[0-9.]*))?[^,]*(?:,|$)"
_MEDIA = {
    # class: (media type patterns in order of precedence, capture name)
    "json": (
        [r"application/vnd\.pypi\.simple\.(?:v1|latest)\+json", r"application/\*"],
        "whj",
    ),
    "html": ([r"application/vnd\.pypi\.simple\.(?:v1|latest)\+html"], "whh"),
    "text": ([r"text/html"], "wht"),
    "any": ([r"\*/\*"], "whs"),
}
# a >= b for two four-digit numbers written "a:b": equal, or after a common prefix a digit
# of a greater than b's at the same place
_GREATER = "|".join(rf"{d}\d*:\1[0-{d - 1}]" for d in range(9, 0, -1))
_GE = (r"~^(\d{4}):\1$", rf"~^(\d*)(?:{_GREATER})")


@dataclass(frozen=True)
class NginxOptions:
    """What the configuration serves, where it listens and whom it lets in."""

    wheelhouse: Path
    listen: Sequence[str] = ("8080",)
    server_name: str = "_"
    basic_auth_file: Path | None = None
    # a whole nginx.conf (events, http) for `nginx -p RUNTIME -c FILE`, not a conf.d part
    standalone: bool = False
    runtime_dir: Path | None = None
    worker_processes: str = "auto"


def check_options(options: NginxOptions) -> None:
    """Refuse what would make a broken or injectable configuration, naming the option."""
    for value in options.listen:
        if not _LISTEN.match(value) or not 1 <= int(value.rsplit(":", 1)[-1]) <= 65535:
            raise UsageError(f"--listen {value!r}: give PORT, HOST:PORT or [IPV6]:PORT")
    texts = {
        "--wheelhouse": str(options.wheelhouse),
        "--server-name": options.server_name,
        "--basic-auth-file": str(options.basic_auth_file or "x"),
        "--runtime-dir": str(options.runtime_dir or "x"),
        "--worker-processes": options.worker_processes,
    }
    for flag, text in texts.items():
        if not _SAFE_TEXT.match(text):
            raise UsageError(f"{flag} {text!r}: no spaces, quotes, ';', '{{', '}}', '$' or '#'")
    if str(options.wheelhouse).lower().startswith("az:"):
        raise UsageError(
            f"--wheelhouse {options.wheelhouse}: nginx serves a folder, not Azure Blob Storage "
            "(serve an az:// wheelhouse with `wheelhouse serve`, or sync it into a folder)"
        )
    if not Path(options.wheelhouse).is_absolute():
        raise UsageError(f"--wheelhouse {options.wheelhouse}: nginx needs an absolute path")
    if options.basic_auth_file is not None and not options.basic_auth_file.is_absolute():
        raise UsageError(f"--basic-auth-file {options.basic_auth_file}: give an absolute path")
    if options.worker_processes != "auto" and not options.worker_processes.isdigit():
        raise UsageError(f"--worker-processes {options.worker_processes!r}: auto or a number")
    if options.standalone and options.runtime_dir is None:
        raise UsageError("--standalone needs --runtime-dir (pid file and temporary folders)")


# -- the negotiation, as maps ---------------------------------------------------------


def _q_maps(kind: str) -> list[str]:
    """Two maps: the raw q of this class's media range ("" if not listed), then four digits."""
    patterns, cap = _MEDIA[kind]
    raw = [f"map $http_accept $wh_qraw_{kind} {{", '    default "";']
    for media in patterns:
        regex = _RANGE.format(media=media, cap=cap)
        raw.append(f'    "~*{regex}" "q${cap}";')
    raw.append("}")
    digits = [
        f"map $wh_qraw_{kind} $wh_q_{kind} {{",
        "    default 0000;  # not listed, or a q that is not a number: refused",
        "    q 1000;  # listed without q",
        r'    "~^q1(?:\.0*)?$" 1000;',
        r'    "~^q0(?:\.0*)?$" 0000;',
        r'    "~^q0\.(\d)$" 0$100;',
        r'    "~^q0\.(\d)(\d)$" 0$1$20;',
        r'    "~^q0\.(\d)(\d)(\d)0*$" 0$1$2$3;',
        "}",
    ]
    return [*raw, *digits]


def _ge_map(a: str, b: str) -> list[str]:
    return [
        f'map "$wh_q_{a}:$wh_q_{b}" $wh_{a}_ge_{b} {{',
        "    default 0;",
        *(f'    "{regex}" 1;' for regex in _GE),
        "}",
    ]


def negotiation_maps() -> str:
    """The http-level maps that set $wh_page to json, html, text or "" (406)."""
    lines = [
        "# PEP 691 content negotiation (as `wheelhouse serve`): $wh_page is the page form the",
        "# request gets: json, html (PEP 691's HTML type), text (text/html) or empty (406).",
        "# The Accept headers pip and uv send are looked up directly; any other goes through",
        "# the maps below it: each media range's q scaled to four digits (0.25 -> 0250),",
        "# compared digit by digit; JSON wins ties, then PEP 691's HTML type, then text/html.",
        "map $arg_format $wh_page {",
        '    "" $wh_page_by_accept;',
        *(
            f"    {spelling} {kind};"
            for fmt, kind in _FORMATS.items()
            for spelling in sorted({fmt, fmt.replace("+", "%2B")})
        ),
        '    default "";  # a format we do not serve: 406',
        "}",
        "map $http_accept $wh_page_by_accept {",
        '    "" text;  # no Accept header: HTML',
        *(f'    "{accept}" {kind};' for accept, kind in KNOWN_ACCEPT.items()),
        "    default $wh_page_negotiated;",
        "}",
        "map $wh_page $wh_page_file {",
        "    json index.json;",
        "    default index.html;",
        "}",
    ]
    for kind in _MEDIA:
        lines += _q_maps(kind)
    for a, b in (("json", "html"), ("json", "text"), ("json", "any"), ("html", "text")):
        lines += _ge_map(a, b)
    lines += _ge_map("html", "any")
    lines += [
        "# key: q of JSON, JSON >= each HTML form, q of each HTML form, HTML type >= the others",
        'map "$wh_q_json $wh_json_ge_html$wh_json_ge_text$wh_json_ge_any '
        '$wh_q_html $wh_q_text $wh_q_any $wh_html_ge_text$wh_html_ge_any" '
        "$wh_page_negotiated {",
        '    default "";  # nothing we serve is acceptable: 406',
        r'    "~^(?!0000)\d{4} 111 " json;',
        r'    "~ (?!0000)\d{4} \d{4} \d{4} 11$" html;',
        r'    "~ (?:(?!0000)\d{4} \d{4} \d{4}|\d{4} (?!0000)\d{4} \d{4}|'
        r'\d{4} \d{4} (?!0000)\d{4}) \d\d$" text;',
        "}",
    ]
    return "\n".join(lines) + "\n"


# -- the server ----------------------------------------------------------------------


_PAGE_HEADERS = """
        add_header Vary Accept always;
        add_header Cache-Control "max-age=0, must-revalidate" always;"""


def _simple_locations(root: Path) -> str:
    """/simple/: JSON and text/html pages straight from the tree by their extension (no
    internal redirect on the hot path); PEP 691's HTML type, asked for by name, through an
    internal location of its own (the same file, another content type)."""
    return f"""location /simple/ {{
        rewrite ^(/simple/[^/]+)$ $1/ permanent;
        if ($wh_page = "") {{
            return 406 "not acceptable: ask for PEP 691 JSON or HTML\\n";
        }}
        if ($wh_page = html) {{
            rewrite ^/simple/((?:[^/]+/)?)$ /_pep691/html/$1index.html last;
        }}
        types {{
            {PAGE_TYPES["json"]} json;
            {PAGE_TYPES["text"]} html;
        }}
        charset utf-8;{_PAGE_HEADERS}
        try_files $uri$wh_page_file =404;
    }}
    location /_pep691/html/ {{
        internal;
        alias {root}/simple/;
        types {{ }}
        default_type {PAGE_TYPES["html"]};
        charset utf-8;{_PAGE_HEADERS}
    }}"""


def render_server(options: NginxOptions) -> str:
    """The server block: pages by $wh_page, files as they are, /health and /ready."""
    root = Path(options.wheelhouse)
    listen = "".join(f"\n    listen {value};" for value in options.listen)
    auth = ""
    if options.basic_auth_file is not None:
        auth = (
            f'\n    auth_basic "wheelhouse";\n    auth_basic_user_file {options.basic_auth_file};'
        )
    return f"""server {{{listen}
    server_name {options.server_name};
    root {root};
    absolute_redirect off;
    server_tokens off;
    charset_types text/plain {HTML_TYPE};
    # links in the tree are not followed out of it (serve refuses them too)
    disable_symlinks on from=$document_root;
    default_type "text/plain; charset=utf-8";{auth}

    location = / {{ return 301 /simple/; }}
    location = /simple {{ return 301 /simple/$is_args$args; }}
    {_simple_locations(root)}

    location /files/ {{
        types {{ "text/plain; charset=utf-8" metadata; }}
        default_type application/octet-stream;
        add_header Cache-Control "max-age=3600" always;
    }}
    # hidden names (temporaries, partial downloads) are never served
    location ~ "/\\." {{ return 404 "not found\\n"; }}

    location = /health {{
        auth_basic off;
        access_log off;
        default_type application/json;
        return 200 '{{"status": "ok"}}\\n';
    }}
    location = /ready {{
        # ready once the root index is there and readable (its age is not checked here)
        auth_basic off;
        access_log off;
        types {{ }}
        default_type application/json;
        try_files /simple/index.json =503;
    }}
    location / {{ return 404 "not found\\n"; }}
}}
"""


def _standalone(options: NginxOptions, body: str) -> str:
    run = options.runtime_dir
    temps = "".join(
        f"\n    {name}_temp_path {run}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    indented = "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())
    return f"""# nginx -p {run} -c THIS_FILE (in the foreground: under systemd or a container)
worker_processes {options.worker_processes};
daemon off;
pid {run}/nginx.pid;
error_log stderr warn;
pcre_jit on;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    # index pages and files are replaced by rename: a cached descriptor lives 2 s at most
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 2s;{temps}

{indented}}}
"""


def render_nginx_config(options: NginxOptions) -> str:
    """The configuration text: an http-level part for conf.d/, or a whole nginx.conf."""
    check_options(options)
    head = (
        f"# Generated by `wheelhouse nginx-config` (wheelhouse {__version__}): the wheelhouse\n"
        f"# {options.wheelhouse} as a PEP 503/691 index. Regenerate rather than edit.\n"
    )
    body = (
        "# the Accept headers of pip and uv are longer than the default bucket\n"
        "map_hash_bucket_size 256;\n\n" + negotiation_maps() + "\n" + render_server(options)
    )
    if options.standalone:
        return head + _standalone(options, body)
    return head + "# Include at http level (Debian: /etc/nginx/conf.d/wheelhouse.conf).\n" + body
