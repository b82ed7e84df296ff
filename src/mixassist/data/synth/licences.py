"""Which drum-kit licences let us redistribute audio made from the kit.

A kit's licence is read twice, from its ``drumkit.xml`` (``<license>``) and from Debian's
``copyright`` file (machine-readable format, DEP-5); the stricter verdict of
:func:`licence_verdict` wins.  CC0, CC BY, CC BY-SA and the GPL *with* Colombo's composition
exception are allowed; plain GPL, non-commercial and no-derivatives licences are not.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

__all__ = [
    "classify_licence",
    "licence_verdict",
    "debian_stanzas",
    "parse_debian_copyright",
    "debian_licence_for",
]


def classify_licence(text: str | None) -> str | None:
    """A short identifier for a free-text licence statement, or None when it says nothing.

    >>> classify_licence("cc-by ==> http://creativecommons.org/licenses/by/3.0/")
    'CC-BY-3.0'
    >>> classify_licence("Creative Commons - Attribution-ShareAlike 3.0 Unported")
    'CC-BY-SA-3.0'
    >>> classify_licence("GPL-2+ with composition exception")
    'GPL-2.0-or-later WITH composition-exception'
    """
    if text is None or not text.strip():
        return None
    t = " ".join(text.lower().split())
    version = re.search(r"(\d\.\d)", t)
    ver = version.group(1) if version else "3.0"
    if re.search(r"\bcc0\b|creative commons 0|publicdomain/zero|public domain", t):
        return "CC0-1.0"
    noncommercial = re.search(r"non-?commercial|\bnc\b|-nc\b", t)
    noderivs = re.search(r"no-?deriv|\bnd\b|-nd\b", t)
    if re.search(r"creative commons|\bcc\b|cc-by|attribution", t):
        if noncommercial or noderivs:
            return f"CC-BY-NC/ND-{ver}"
        if re.search(r"share-?\s?alike|\bsa\b|-sa\b|by-sa", t):
            return f"CC-BY-SA-{ver}"
        return f"CC-BY-{ver}"
    if re.search(r"\bgpl\b|gpl-|general public licen", t):
        m = re.search(r"gpl-?v?(\d)", t) or re.search(r"version (\d)", t)
        later = bool(re.search(r"gpl-?v?\d\+|any later version|or later", t))
        base = "GPL" if m is None else f"GPL-{m.group(1)}.0-{'or-later' if later else 'only'}"
        if "composition" in t and "exception" in t:
            return f"{base} WITH composition-exception"
        return base
    return text.strip()


def _verdict_one(licence: str) -> tuple[bool, str]:
    if licence == "CC0-1.0":
        return True, "CC0: public-domain dedication, no conditions"
    if licence.startswith("CC-BY-NC/ND"):
        return False, "non-commercial or no-derivatives terms forbid training data redistribution"
    if licence.startswith("CC-BY-SA"):
        return True, "CC BY-SA: derived audio may be redistributed under the same licence, with credit"
    if licence.startswith("CC-BY"):
        return True, "CC BY: derived audio may be redistributed with credit"
    if "composition-exception" in licence:
        return True, "GPL with a composition exception: compositions using the samples are not covered by the GPL"
    if licence.startswith("GPL"):
        return False, "plain GPL: no clear terms for audio rendered from the samples, left out"
    return False, f"unrecognised licence {licence!r}, left out"


def licence_verdict(xml_licence: str | None, debian_licence: str | None) -> tuple[bool, str, str]:
    """Decide whether audio rendered from a kit may be redistributed.

    Parameters
    ----------
    xml_licence, debian_licence : str or None
        The ``<license>`` text of the kit's ``drumkit.xml`` and the ``License:`` field (plus
        its paragraph) that Debian's copyright file gives for the kit's archive.

    Returns
    -------
    (allowed, licence, reason)
        Both statements that are present must allow it (the stricter wins); a kit with
        neither is refused.  ``licence`` is Debian's identifier when there is one.
    """
    found = [
        (src, classify_licence(text))
        for src, text in (("drumkit.xml", xml_licence), ("debian/copyright", debian_licence))
    ]
    present = [(src, lic) for src, lic in found if lic is not None]
    if not present:
        return False, "unknown", "no licence in drumkit.xml nor in Debian's copyright file, left out"
    reasons = []
    for src, lic in present:
        ok, why = _verdict_one(lic)
        if not ok:
            return False, lic, f"{src}: {why}"
        reasons.append(f"{src}: {lic}")
    licence = present[-1][1]
    return True, licence, f"{_verdict_one(licence)[1]} ({'; '.join(reasons)})"


def debian_stanzas(path: Path) -> list[dict[str, str | list[str]]]:
    """Every ``Files:`` stanza of a DEP-5 copyright file: patterns, licence, copyright, source."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    stanzas: list[dict[str, str | list[str]]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m and not line.startswith(" "):
                key = m.group(1).lower()
                fields[key] = [m.group(2)]
            elif key is not None:
                fields[key].append(line.strip())
        if "files" in fields and "license" in fields:
            stanzas.append(
                {
                    "patterns": " ".join(fields["files"]).split(),
                    "licence": " ".join(
                        fields["license"] + fields.get("license-grant", []) + fields.get("license-reference", [])
                    ),
                    "copyright": " ".join(fields.get("copyright", [])).strip(),
                    "source": " ".join(fields.get("source", [])).strip(),
                }
            )
    return stanzas


def parse_debian_copyright(path: Path) -> list[tuple[list[str], str]]:
    """(file patterns, licence paragraph) of every ``Files:`` stanza of a DEP-5 file."""
    return [(list(st["patterns"]), str(st["licence"])) for st in debian_stanzas(path)]


def debian_licence_for(kit_dir: Path, stanzas: list[tuple[list[str], str]]) -> str | None:
    """The licence of the stanza whose ``drumkits/*.h2drumkit`` pattern names ``kit_dir`` (None if none)."""
    name = kit_dir.name
    best: tuple[int, str] | None = None
    for patterns, licence in stanzas:
        for pattern in patterns:
            if not pattern.startswith("drumkits/") or not pattern.endswith(".h2drumkit"):
                continue
            stem = pattern[len("drumkits/") : -len(".h2drumkit")]
            if fnmatch.fnmatchcase(name, stem):
                return licence
            # "circAfrique v4" is shipped as "circAfrique.h2drumkit"
            plain = stem.replace("?", " ")
            if name.startswith(plain) and (best is None or len(plain) > best[0]):
                best = (len(plain), licence)
    return best[1] if best else None
