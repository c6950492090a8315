#!/usr/bin/env python3
"""Files over 800 lines and functions over 80 lines in extension/*.c and
client/{src,cli,dashboard}/*.cpp (issue 9's limits), and the totals.

    scripts/code_size.py [DIR]      DIR: a checkout (default: this one), e.g. one made with
                                    git archive v0.1 | tar -x -C /tmp/v0.1

A function is a top-level { ... } block (a brace counter, not a parser: namespaces are seen
through; struct, enum and initialiser blocks are not counted)."""
import glob
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
files = sorted(glob.glob(root + "/extension/*.c") +
               sum((glob.glob(root + "/client/%s/*.cpp" % d) for d in ("src", "cli", "dashboard")), []))
nfiles = nfuncs = nlines = 0
for path in files:
    lines = open(path).read().split("\n")
    nfiles += 1
    nlines += len(lines)
    name = os.path.relpath(path, root)
    if len(lines) > 800:
        print("file over 800 lines: %s (%d)" % (name, len(lines)))
    depth, start = 0, None
    for i, line in enumerate(lines):
        code = line.split("//")[0]
        stripped = code.strip()
        if stripped.startswith("namespace") and stripped.endswith("{"):
            continue
        if line.strip().startswith("}  // namespace"):
            continue
        if depth == 0 and "{" in code and "=" not in code and not stripped.startswith(
                ("struct", "typedef", "enum", "static const", "const", "extern")):
            start = i
        for ch in code:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0 and start is not None:
                    nfuncs += 1
                    if i - start + 1 > 80:
                        print("function over 80 lines: %s:%d (%d)" % (name, start + 1, i - start + 1))
                    start = None
print("%d files, %d functions, %d lines" % (nfiles, nfuncs, nlines))
