#!/usr/bin/env python3
"""Finds import cycles among a crate's modules, so the layers stay layers.

    scripts/import-cycles.py crates/server/src [more crate src folders]

Each source file is a module. A path `crate::a::b::Item`, `super::…` or `self::…` in a
file's code (comments and its `#[cfg(test)]` part left out) links it to the deepest module
file that path names. Prints every cycle (a strongly connected group of modules) and exits
1 if there is one, 0 if there is none. It reads text, not the compiler's view, so a
re-export counts as a link to the module that re-exports.
"""

import os
import re
import sys


def modules(src):
    """Module path ('a::b', '' for the crate root) to file."""
    found = {}
    for folder, _, names in os.walk(src):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = []
            found["::".join(parts)] = path
    return found


def code_of(path):
    text = open(path, encoding="utf-8").read()
    tests = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests\b", text)
    if tests:
        text = text[: tests.start()]
    text = re.sub(r"//[^\n]*", "", text)
    # `pub(in crate::a)` says who may see an item; it imports nothing.
    return re.sub(r"pub\(in [\w:]+\)", "pub", text)


def children(code):
    """The modules a file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`)."""
    return set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code, re.M))


def links(files):
    def resolve(segments):
        for n in range(len(segments), 0, -1):
            name = "::".join(segments[:n])
            if name in files:
                return name
        return None

    edges = {module: set() for module in files}
    for module, path in files.items():
        here = module.split("::") if module else []
        code = code_of(path)
        paths = [(k, rest.strip(":").split("::")) for k, rest in
                 re.findall(r"\b(crate|super|self)((?:::\w+)+)", code)]
        # Groups: `crate::a::{b, c::D}`, `super::{…}`, `self::{…}` (one level of braces).
        for kind, prefix, group in re.findall(
                r"\b(crate|super|self)((?:::\w+)*)::\{([^{}]*)\}", code):
            head = prefix.strip(":").split("::") if prefix.strip(":") else []
            for item in group.split(","):
                item = item.strip().split(" as ")[0]
                if item and item != "self":
                    paths.append((kind, head + item.split("::")))
        # A child module named bare: `use x::Y;`, `x::y()` after `mod x;` (the declaration
        # itself is structure, not an import).
        body = re.sub(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*;", "", code, flags=re.M)
        for child in children(code):
            for rest in re.findall(r"(?<![\w:.])" + child + r"((?:::\w+)+)", body):
                paths.append(("self", [child] + rest.strip(":").split("::")))
        for kind, segments in paths:
            if kind == "crate":
                full = segments
            elif kind == "self":
                full = here + segments
            else:
                base = here[:-1]
                while segments and segments[0] == "super":
                    segments, base = segments[1:], base[:-1]
                full = base + segments
            target = resolve(full)
            if target and target != module:
                edges[module].add(target)
    return edges


def cycles(edges):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in edges:
        if v not in index:
            visit(v)
    return found


def main(folders):
    if not folders:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    failed = False
    for src in folders:
        for group in cycles(links(modules(src))):
            failed = True
            print(f"{src}: import cycle among {', '.join(group)}")
    if not failed:
        print(f"no import cycle in {', '.join(folders)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
