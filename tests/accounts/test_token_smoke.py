import jwt
from django.conf import settings


def test_token_obtain_returns_access_with_configured_lifetime(anon, user):
    response = anon.post("/api/v1/token/", {"username": "alice", "password": user.raw_password}, format="json")
    assert response.status_code == 200
    claims = jwt.decode(response.json()["access"], settings.SECRET_KEY, algorithms=[settings.ALGORITHM])
    assert claims["exp"] - claims["iat"] == settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60


def test_missing_token_is_401_in_error_shape(anon):
    response = anon.get("/api/v1/token/logout/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"
