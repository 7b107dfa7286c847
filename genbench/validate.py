"""Checks on what a suite file, a plugin or a store row names, before it reaches a shell, a path
or a page; masking of database secrets; YAML read with limits.

Nothing here imports torch; it sits in the bottom layer beside ``errors`` and ``config``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from genbench.errors import GenbenchError

# Names that become file names, sbatch job names and HTML ids: letters, digits and . _ + -,
# never starting with '.' or '-' (a hidden file, an option), at most 128 characters.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def check_name(value: object, what: str) -> str:
    """``value`` as a string when it is a safe name, else one clear line."""
    text = str(value)
    if not _NAME.fullmatch(text):
        raise GenbenchError(
            f"{what} {text!r} is not a safe name: use letters, digits, '.', '_', '+' or '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return text


def confined(base: str | Path, *parts: str, what: str = "path") -> Path:
    """``base/parts...`` resolved, refused in one line when it leaves ``base`` (``..``, a link)."""
    root = Path(base).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise GenbenchError(f"{what} {Path(*parts)} leaves {root}: refused")
    return path


def inside(path: str | Path, folder: str | Path) -> bool:
    """True when ``path`` resolves (links followed) to ``folder`` or below it."""
    p, f = Path(path).resolve(), Path(folder).resolve()
    return p == f or f in p.parents


# -- database secrets -------------------------------------------------------------------------

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>:.,;)]")  # not a sentence's last ':' or '.'
# Query parameters that carry a secret in a URL SQLAlchemy or a driver accepts (?password=...).
# The value runs to the next "&key=" or the end: a raw '@', '#', '?' or '&' inside it is masked too.
_SECRET_QUERY = re.compile(
    r"([?&;](?:password|passwd|pwd|pass|sslpassword|secret|token|access_token|api_key|apikey)=)"
    r".*?(?=[&;][A-Za-z_][A-Za-z0-9_.-]*=|$)",
    re.IGNORECASE,
)
MASK = "***"
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\n]{0,256}@")


def _mask_one(url: str) -> str:
    """One URL with its password (userinfo and query) replaced by ``***``."""
    # Query secrets first: once masked, an '@' left in the query is not part of a password.
    scheme, _, rest = _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, url).partition("://")
    # The userinfo ends at the last '@': a raw '@' may sit inside the password. Over-masking (an
    # '@' in a database name or another query value) is harmless; missing a secret is not.
    at = rest.rfind("@")
    if at >= 0:
        userinfo, host = rest[:at], rest[at + 1 :]
        user, colon, _password = userinfo.partition(":")
        if colon:
            rest = f"{user}:{MASK}@{host}"
    return f"{scheme}://{rest}"


def mask_url(text: str) -> str:
    """``text`` with the secret of every URL in it replaced by ``***``.

    ``text`` may be one URL or a message holding URLs. A URL SQLAlchemy parses is rendered with
    ``hide_password=True`` first; then every URL's userinfo password and ``password=``-like query
    values are masked, so forms SQLAlchemy reads differently (a raw '@' in the password) are too."""
    from sqlalchemy.engine import make_url

    def one(m: re.Match[str]) -> str:
        url = m.group(0)
        try:
            parsed = make_url(url)
            if parsed.render_as_string(hide_password=False) == url:  # rendered as written: text kept as is
                url = parsed.render_as_string(hide_password=True)
        except Exception:  # not a URL SQLAlchemy reads: the pattern masking below still applies
            pass
        return _mask_one(url)

    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text) and "\n" not in text:
        return _mask_one(text)  # one URL (a --db value): all of it, spaces or quotes in its password too
    # A password with a space or a quote would cut the URL pattern short: mask from "user:" to the
    # next '@' on the line first (a harmless over-masking where that '@' belongs to something else).
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return _URL.sub(one, text)


# -- YAML -------------------------------------------------------------------------------------

MAX_YAML_BYTES = 1_000_000  # a benchmark or suite file is a few hundred bytes
MAX_YAML_NODES = 100_000  # nodes after aliases are expanded: a 600-byte "billion laughs" holds 10^9


def load_yaml(path: str | Path, what: str) -> Any:
    """A YAML file read with ``safe_load``'s types, refused in one line when it is larger than
    ``MAX_YAML_BYTES`` or its aliases expand to more than ``MAX_YAML_NODES`` nodes."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_YAML_BYTES:
            raise GenbenchError(f"{what} {p} is {size:,} bytes, over the {MAX_YAML_BYTES:,} allowed: refused")
        with open(p, "rb") as fh:
            data = fh.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise GenbenchError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(data) > MAX_YAML_BYTES:  # grew since stat (a pipe, a file being written)
        raise GenbenchError(f"{what} {p} is over {MAX_YAML_BYTES:,} bytes: refused")
    try:
        loader = yaml.SafeLoader(data)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            expanded = _expanded_size(node, {})
            if expanded > MAX_YAML_NODES:
                raise GenbenchError(
                    f"{what} {p}: its aliases expand to {expanded:,} nodes, over the {MAX_YAML_NODES:,} allowed "
                    "(a YAML bomb?): refused"
                )
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise GenbenchError(f"cannot read {what} {p}: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise GenbenchError(f"{what} {p} nests too deeply to read: refused") from None


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes in ``node`` with every alias expanded, counted without expanding them (memoised)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once instead of looping
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[key] = total
    return total
