#!/usr/bin/env python3
"""Checks META.json against the PGXN Meta Spec 1.0.0 (its mandatory fields and value formats)
and against the tree: the distribution version is the extension's EXTVERSION as SemVer
(0.2 -> 0.2.0), as debian/changelog's, and every file it names exists.

    python3 test/packages/check_meta.py      # prints "META.json is OK" or the errors, exit 1
"""
import json
import os
import re
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
TERM = re.compile(r"^[^\s/\\:]{2,}$")  # spec "Term": at least 2 chars, no slash, backslash, colon or space
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
    "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0",
    "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib",
    "open_source", "restricted", "unrestricted", "unknown",
}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}
RELEASE_STATUS = {"stable", "testing", "unstable"}


def version_ok(v):
    # prereq versions: 0, a SemVer, or a range such as ">= 1.2.0, != 1.5.0"
    if v == 0 or v == "0":
        return True
    return isinstance(v, str) and all(
        re.match(r"^(>=|<=|==|!=|>|<)?\s*", p) and SEMVER.match(re.sub(r"^(>=|<=|==|!=|>|<)?\s*", "", p.strip()))
        for p in v.split(","))


def main():
    errors = []
    err = errors.append
    m = json.load(open(os.path.join(TOP, "META.json"), encoding="utf-8"))
    for k in ("name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"):
        if k not in m:
            err(f"missing mandatory field '{k}'")
    if m.get("meta-spec", {}).get("version") != "1.0.0":
        err("meta-spec.version must be 1.0.0")
    if not TERM.match(str(m.get("name", ""))):
        err("name is not a Term")
    if not SEMVER.match(str(m.get("version", ""))):
        err(f"version {m.get('version')!r} is not SemVer")
    if not str(m.get("abstract", "")).strip():
        err("abstract is empty")
    mt = m.get("maintainer")
    if not (isinstance(mt, str) and mt) and not (isinstance(mt, list) and mt and all(isinstance(x, str) and x for x in mt)):
        err("maintainer must be a string or a non-empty list of strings")
    lic = m.get("license")
    if isinstance(lic, str):
        if lic not in LICENSES:
            err(f"license {lic!r} is not a known license string")
    elif isinstance(lic, list):
        for x in lic:
            if x not in LICENSES:
                err(f"license {x!r} is not a known license string")
    elif not (isinstance(lic, dict) and lic):
        err("license must be a string, a list or an object of name: URL")
    prov = m.get("provides", {})
    if not prov:
        err("provides is empty")
    for name, p in prov.items():
        if not TERM.match(name):
            err(f"provides key {name!r} is not a Term")
        for k in ("file", "version"):
            if k not in p:
                err(f"provides.{name} lacks '{k}'")
        if not SEMVER.match(str(p.get("version", ""))):
            err(f"provides.{name}.version is not SemVer")
        for k in ("file", "docfile"):
            if k in p and not os.path.exists(os.path.join(TOP, p[k])):
                err(f"provides.{name}.{k} {p[k]} does not exist")
    for phase, rels in m.get("prereqs", {}).items():
        if phase not in PHASES:
            err(f"prereqs phase {phase!r} is not one of {sorted(PHASES)}")
        for rel, reqs in rels.items():
            if rel not in RELATIONS:
                err(f"prereqs.{phase} relationship {rel!r} is not one of {sorted(RELATIONS)}")
            for ext, v in reqs.items():
                if not version_ok(v):
                    err(f"prereqs.{phase}.{rel}.{ext} version {v!r} is not 0, SemVer or a range")
    if "release_status" in m and m["release_status"] not in RELEASE_STATUS:
        err(f"release_status {m['release_status']!r} is not one of {sorted(RELEASE_STATUS)}")
    if "tags" in m and not all(isinstance(t, str) and 0 < len(t) <= 255 for t in m["tags"]):
        err("tags must be non-empty strings of at most 255 characters")

    # The tree: one version everywhere.
    ext = re.search(r"^EXTVERSION = (\S+)", open(os.path.join(TOP, "Makefile")).read(), re.M).group(1)
    semver = ext if ext.count(".") == 2 else ext + ".0"
    deb = re.match(r"^taskmill \(([^)-]+)", open(os.path.join(TOP, "debian", "changelog")).readline()).group(1)
    for what, v in (("version", m.get("version")), ("provides.taskmill.version", prov.get("taskmill", {}).get("version")),
                    ("debian/changelog", deb)):
        if v != semver:
            err(f"{what} is {v}, the extension's EXTVERSION {ext} is {semver}")
    if errors:
        print("META.json is invalid. Errors:\n  " + "\n  ".join(errors))
        return 1
    print(f"META.json is OK (taskmill {semver}, PGXN Meta Spec 1.0.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
