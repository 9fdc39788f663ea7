"""Nothing but the workflow engine may assign a workflow state.

Scans the source of crm/ for the ways a state could be written: attribute
assignment, setattr, constructor or ``.values()`` keywords, and raw SQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

CRM = Path(__file__).resolve().parents[2] / "crm"
ENGINE = CRM / "workflow" / "engine.py"
STATE_NAMES = {"state", "_state"}
RAW_SQL = re.compile(r"\bSET\s+state\s*=", re.IGNORECASE)


def violations(source: str, filename: str = "<source>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for attr in _assigned_attributes(target):
                if attr in STATE_NAMES:
                    found.append(f"{filename}:{node.lineno} assigns .{attr}")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "setattr" and len(node.args) > 1 and getattr(node.args[1], "value", None) in STATE_NAMES:
                found.append(f"{filename}:{node.lineno} setattr(…, {node.args[1].value!r})")
            for keyword in node.keywords:
                if keyword.arg == "_state" or (keyword.arg == "state" and name == "values"):
                    found.append(f"{filename}:{node.lineno} passes {keyword.arg}= to {name}()")
            if name == "values":
                for arg in node.args:
                    if isinstance(arg, ast.Dict) and any(getattr(k, "value", None) in STATE_NAMES for k in arg.keys):
                        found.append(f"{filename}:{node.lineno} .values({{'state': …}})")
    found += [f"{filename}: raw SQL sets state" for _ in RAW_SQL.finditer(source)]
    return found


def _assigned_attributes(target) -> list[str]:
    """Attribute names written by an assignment target (``a.x = …``, ``a.x, b.y = …``), not read in it."""
    if isinstance(target, ast.Attribute):
        return [target.attr]
    if isinstance(target, ast.Tuple | ast.List):
        return [name for element in target.elts for name in _assigned_attributes(element)]
    if isinstance(target, ast.Starred):
        return _assigned_attributes(target.value)
    return []


def test_only_the_engine_assigns_a_workflow_state():
    offenders = []
    for path in sorted(CRM.rglob("*.py")):
        found = violations(path.read_text(encoding="utf-8"), str(path.relative_to(CRM.parent)))
        if path == ENGINE:
            assert found == [f"{path.relative_to(CRM.parent)}:{_set_state_line()} assigns ._state"], found
        else:
            offenders += found
    assert not offenders, "workflow state assigned outside crm/workflow/engine.py:\n" + "\n".join(offenders)


def _set_state_line() -> int:
    tree = ast.parse(ENGINE.read_text(encoding="utf-8"))
    [func] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_set_state"]
    [assign] = [n for n in ast.walk(func) if isinstance(n, ast.Assign)]
    return assign.lineno


def test_the_scan_catches_each_way_of_writing_a_state():
    samples = [
        "lead.state = 'won'",
        "lead._state = 'won'",
        "other, lead.state = 1, 'won'",
        "setattr(lead, 'state', 'won')",
        "Lead(name='x', _state='won')",
        "db.session.execute(update(Lead).values(state='won'))",
        "db.session.execute(update(Lead).values({'state': 'won'}))",
        "db.session.execute(text('UPDATE leads SET state = :s'))",
    ]
    for sample in samples:
        assert violations(sample), sample
    assert not violations("notification = Notification(state=row.state)\nstatus = record.state\nd[row.state] = 1")


def test_the_bulk_start_sets_its_state_through_set_state():
    # start_many (bulk inserts for imports) copies the state from a probe record that
    # _set_state moved, so the one assignment above stays the only one.
    tree = ast.parse(ENGINE.read_text(encoding="utf-8"))
    [func] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "start_many"]
    called = {n.func.id for n in ast.walk(func) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "_set_state" in called
