"""Every action the code records has a label people read (audit/actions.py).

The actions are found in the source: the ``action=`` argument of each ``record(...)`` call
(audit.services.record), and the first argument of the tokens app's ``_audit(...)`` helper -- a
string, either branch of a conditional, or an f-string whose values this test knows. A new
action without a label fails here.
"""

import ast
from pathlib import Path

from django.conf import settings

from audit.actions import LABELS, label
from support.models import Status as TicketStatus

BASE = Path(settings.BASE_DIR)
# Folders whose Python files are not the portal's own code.
NOT_THE_PORTAL = {".venv", "tests", "tests_container", "bench", "scripts", "migrations", "build"}
# f-strings that name an action, and what their placeholders can be.
F_STRING_ACTIONS = {"ticket.{}": [f"ticket.{status}" for status in TicketStatus.values]}
# audit.services.record, and helpers that pass their first argument on to it as the action.
RECORD = "record"
AUDIT_HELPERS = {"_audit", "audit"}


def _constants(node: ast.expr, where: str) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _constants(node.body, where) + _constants(node.orelse, where)
    if isinstance(node, ast.JoinedStr):
        shape = "".join(str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values)
        assert shape in F_STRING_ACTIONS, f"{where}: an action built as f-string {shape!r}: list it in this test"
        return F_STRING_ACTIONS[shape]
    return []  # a variable: the helper it is passed through is scanned instead


def recorded_actions() -> dict[str, str]:
    """Each action the portal's code records, with where it is recorded."""
    found: dict[str, str] = {}
    for path in sorted(BASE.rglob("*.py")):
        if NOT_THE_PORTAL & set(path.relative_to(BASE).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(BASE)}:{node.lineno}"
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            arguments = [keyword.value for keyword in node.keywords if keyword.arg == "action" and name == RECORD]
            if name in AUDIT_HELPERS and node.args:
                arguments.append(node.args[0])
            for argument in arguments:
                for action in _constants(argument, where):
                    found.setdefault(action, where)
    return found


def test_the_scan_finds_the_actions_of_every_app():
    actions = recorded_actions()
    prefixes = {action.split(".")[0] for action in actions}
    assert prefixes >= {"login", "logout", "user", "token", "whitelist", "file", "invoice", "extract", "ticket"}
    assert {"token.enrolled", "token.test_passed", "token.test_failed", "ticket.closed", "password.reset"} <= set(
        actions
    )


def test_every_recorded_action_has_a_label():
    missing = {action: where for action, where in recorded_actions().items() if action not in LABELS}
    assert not missing, f"add a label to audit/actions.py LABELS for: {missing}"


def test_labels_are_words_and_tell_actions_apart():
    assert all(text and text[0].isupper() and "." not in text and "_" not in text for text in LABELS.values())
    assert len(set(LABELS.values())) == len(LABELS)


def test_an_action_without_a_label_still_reads_as_words():
    assert label("token.enrolled") == "Token enrolled"
    assert label("webhook.signing_key_rotated") == "Webhook signing key rotated"
