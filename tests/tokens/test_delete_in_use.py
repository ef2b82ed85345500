from tokens.models import Token, TokenKind
from tokens.services import generate_backup_codes


def test_deleting_the_token_of_this_session_warns_then_logs_out(member_client, member):
    generate_backup_codes(user=member, acting_user=member)  # another factor, so the account stays usable
    authenticator = Token.objects.get(user=member, kind=TokenKind.TOTP)

    confirm = member_client.get(f"/tokens/{authenticator.pk}/delete/")
    assert "You are logged in with this token" in confirm.content.decode()

    response = member_client.post(f"/tokens/{authenticator.pk}/delete/", follow=True)

    assert response.redirect_chain[-1][0] == "/login/"
    assert "Log in again with another token" in response.content.decode()
    assert not Token.objects.filter(pk=authenticator.pk).exists()
    assert member_client.get("/").status_code == 302


def test_deleting_another_token_keeps_the_session(member_client, member):
    generate_backup_codes(user=member, acting_user=member)
    backup = Token.objects.get(user=member, kind=TokenKind.BACKUP)

    response = member_client.post(f"/tokens/{backup.pk}/delete/")

    assert response.status_code == 302
    assert member_client.get("/").status_code == 200


def test_enrolling_for_another_organisations_user_is_404_even_before_the_password_check(outsider_client, member):
    session = outsider_client.session
    del session["reauthenticated_at"]
    session.save()

    response = outsider_client.get(f"/users/{member.pk}/tokens/add/hotp/")

    assert response.status_code == 404
