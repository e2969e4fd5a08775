"""OpenAPI description of the project's JWT authentication (drf-spectacular).

drf-spectacular describes simplejwt's JWTAuthentication but not subclasses of
it; without this the schema shows no way to authenticate.
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class RevocableJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.RevocableJWTAuthentication"
