"""A ticket whose attachments cannot all be recorded keeps nothing: no rows, no stored objects."""

import pytest
from django.db import DatabaseError

from support import services
from support.models import Attachment, Ticket
from tests.extracts.conftest import private_files
from tests.support import pdf_file


def test_a_failure_after_the_first_attachment_was_stored_removes_it_and_the_ticket(owner, monkeypatch):
    real_record = services.record
    calls = []

    def record_failing_on_the_second_file(**kwargs):
        calls.append(kwargs["action"])
        if calls.count("file.uploaded") == 2:
            raise DatabaseError("the audit table went away")
        return real_record(**kwargs)

    monkeypatch.setattr(services, "record", record_failing_on_the_second_file)

    with pytest.raises(DatabaseError):
        services.open_ticket(
            acting_user=owner,
            subject="Contract",
            body="Both pages attached.",
            category="question",
            files=[pdf_file("page-1.pdf"), pdf_file("page-2.pdf")],
        )

    assert not Ticket.objects.exists()
    assert not Attachment.objects.exists()
    assert private_files() == []
