def test_owner_sees_home_with_organisation_name(owner_client):
    response = owner_client.get("/")
    assert response.status_code == 200
    assert "Acme Payments Ltd" in response.content.decode()
