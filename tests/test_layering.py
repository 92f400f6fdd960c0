"""The layering: generic modules never import a task or name one (DESIGN.md, "Layout")."""

import ast
from pathlib import Path

import neuralshade
from neuralshade.data.sources import SOURCES, get_source
from neuralshade.task import task_names

PACKAGE = Path(neuralshade.__file__).parent
# the modules that are about one task or source by design: the tasks themselves, the sources,
# the command line and the package's front door (which wire names to functions), and the
# front-ends of ao2d (shade, demo), of denoise, shadow and cnsr (scene_repr)
TASK_BOUND = {"cli.py", "__init__.py", "shading.py", "demo.py", "denoise.py", "shadowing.py",
              "webmodels.py", "scene_repr.py"}  # fmt: skip
TASK_BOUND_FOLDERS = {"tasks", "data/sources"}


def generic_modules() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        folder = rel.parent.as_posix()
        if str(rel) in TASK_BOUND or any(folder.startswith(f) for f in TASK_BOUND_FOLDERS):
            continue
        out.append(path)
    return out


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def violations(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    skip = docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("neuralshade.tasks")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "neuralshade.tasks"
        ):
            found.append(f"from {node.module}")
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        ):
            if node.value in names:
                found.append(f"line {node.lineno}: {node.value!r}")
    return found


def test_no_generic_module_imports_or_names_a_task():
    names = set(task_names()) | set(SOURCES.names())
    assert {"ao2d", "gan-test"} <= names  # the check would be empty without them
    # a name that is also a buffer's (the heightfield's "shadow" buffer, the shadow task) is
    # no evidence in a string: the import check still holds for it
    sources = [get_source(n) for n in SOURCES.names()]
    names -= {b for s in sources for b in s.schema(s.toy_config())}
    # nor is a model's name (CNSR's whole model is registered as cnsr, after the method)
    from neuralshade import models

    names -= set(models.names())
    assert {"ao2d", "gan-test"} <= names
    modules = generic_modules()
    assert {"train.py", "evaluate.py", "infer.py", "checkpoint.py", "export.py"} <= {
        p.name for p in modules
    }
    bad = {str(p.relative_to(PACKAGE)): v for p in modules if (v := violations(p, names))}
    assert not bad, f"generic modules that import or name a task: {bad}"


def test_the_check_finds_an_import_and_a_name(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""ao2d in a docstring is fine."""\nimport neuralshade.tasks.ao2d\nX = "ao2d"\n'
    )
    assert violations(module, {"ao2d"}) == ["neuralshade.tasks.ao2d", "line 3: 'ao2d'"]
