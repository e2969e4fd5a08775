from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from accounts import services
from accounts.serializers import LogoutSerializer, MeSerializer, TokenPairSerializer
from accounts.throttles import LoginAttempt
from scheduler_site.openapi import error_response

_AUTH_ERRORS = {401: error_response("Invalid credentials or token")}
_STORE_DOWN = {503: error_response("The token revocation store is unreachable; try again shortly")}


_LOCKED = {429: error_response("Too many failed logins for this username or address; `Retry-After` says when")}


@extend_schema(tags=["auth"], responses={200: TokenPairSerializer, **_AUTH_ERRORS, **_LOCKED})
class TokenObtainView(jwt_views.TokenObtainPairView):
    """Exchange a username and password for an access and a refresh token.

    Failed logins are counted and lock the attacker's pair or address (accounts.throttles): the gate
    runs before the password is checked, the outcome is recorded after.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        attempt = LoginAttempt(request)
        attempt.check()
        try:
            response = super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            attempt.failed()
            raise
        attempt.succeeded()
        return response


@extend_schema(tags=["auth"], responses={200: TokenPairSerializer, **_AUTH_ERRORS, **_STORE_DOWN})
class TokenRefreshView(jwt_views.TokenRefreshView):
    """Exchange a live refresh token for a new access token and a new refresh token (rotation).

    The old refresh token is revoked; presenting it again revokes every token of its login.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]


class LogoutView(APIView):
    """End the login of the refresh token in the body: it, every token rotated from the same login, and
    the access token presented."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], request=LogoutSerializer, responses={204: None, **_AUTH_ERRORS, **_STORE_DOWN})
    def post(self, request: Request) -> Response:
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.logout(
            user=request.user,
            refresh=serializer.validated_data["refresh"],
            access=request.auth,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The user the presented token belongs to."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], responses={200: MeSerializer, **_AUTH_ERRORS})
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)
