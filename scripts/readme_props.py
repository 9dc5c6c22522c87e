"""The README's props tables, made from the constructs' docstrings: one source for prop documentation.

Each construct documents its props as ``:param <name>: <text>`` in its class docstring; the table gives each
keyword prop of ``__init__`` in signature order with its type and default as written in the signature, and that
text. ``python scripts/readme_props.py`` rewrites the tables between the README's ``<!-- props:<Class> -->`` and
``<!-- /props -->`` markers; ``--check`` only says whether they are current (``tests/test_readme.py`` runs it).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PACKAGE = REPO / "segmentation_constructs"
# class: the module that defines it
DOCUMENTED = {
    "PersonalizeTrainingPipeline": "training_pipeline.py",
    "BatchSegmentPostprocessor": "batch_segment_postprocessor.py",
    "PinpointSegmentImporter": "pinpoint_segment_importer.py",
    "ConnectCustomerProfilesSegmentImporter": "connect_segment_importer.py",
    "UserErasure": "user_erasure.py",
    "FunctionSettings": "_lambda.py",
}
PARAM = re.compile(r"^:param (\w+):\s*(.*)$")
BLOCK = re.compile(r"(<!-- props:(\w+) -->\n)(.*?)(<!-- /props -->)", re.DOTALL)


def docstring_params(doc: str) -> dict[str, str]:
    """``:param name: text`` entries of a docstring, continuation lines joined."""
    params: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        line = line.strip()
        found = PARAM.match(line)
        if found:
            current = found.group(1)
            params[current] = found.group(2)
        elif current and line and not line.startswith(":"):
            params[current] += " " + line
        else:
            current = None
    return params


def props(class_name: str) -> list[tuple[str, str, str, str]]:
    """(name, type, default, text) of each keyword prop of ``class_name``, in signature order."""
    path = PACKAGE / DOCUMENTED[class_name]
    source = path.read_text()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == class_name)
    documented = docstring_params(ast.get_docstring(node) or "")
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is not None:
        names = [(a, d) for a, d in zip(init.args.kwonlyargs, init.args.kw_defaults)]
    else:  # a dataclass: its annotated fields
        names = [(n.target, n.value) for n in node.body if isinstance(n, ast.AnnAssign)]
    rows = []
    for arg, default in names:
        name = arg.arg if isinstance(arg, ast.arg) else arg.id
        annotation = arg.annotation if isinstance(arg, ast.arg) else next(
            n.annotation for n in node.body if isinstance(n, ast.AnnAssign) and n.target is arg)
        if name not in documented:
            raise ValueError(f"{path.name}: {class_name} has no ':param {name}:' in its docstring")
        rows.append((name, ast.get_source_segment(source, annotation),
                     "required" if default is None else ast.get_source_segment(source, default), documented.pop(name)))
    if documented:
        raise ValueError(f"{path.name}: {class_name} documents props it does not take: {', '.join(documented)}")
    return rows


def table(class_name: str) -> str:
    lines = ["| Prop | Type | Default | Meaning |", "|---|---|---|---|"]
    for name, type_, default, text in props(class_name):
        cell = "required" if default == "required" else f"`{default}`"
        meaning = text.replace("``", "`").replace("|", "\\|")
        lines.append(f"| `{name}` | `{type_}` | {cell} | {meaning} |")
    return "\n".join(lines) + "\n"


def rendered(readme: str) -> str:
    """The README with every props table made anew."""
    found = {m.group(2) for m in BLOCK.finditer(readme)}
    missing = sorted(set(DOCUMENTED) - found)
    if missing:
        raise ValueError(f"README.md has no <!-- props:<Class> --> block for {', '.join(missing)}")
    return BLOCK.sub(lambda m: m.group(1) + table(m.group(2)) + m.group(4), readme)


def main(argv: list[str]) -> int:
    readme = README.read_text()
    new = rendered(readme)
    if "--check" in argv:
        if new != readme:
            print("README.md's props tables differ from the docstrings: run python scripts/readme_props.py")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
