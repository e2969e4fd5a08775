from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import LogoutView, MeView, TokenObtainView, TokenRefreshView
from scheduler_site import health, metrics, views

handler400 = "scheduler_site.errors.handler400"
handler403 = "scheduler_site.errors.handler403"
handler404 = "scheduler_site.errors.handler404"
handler500 = "scheduler_site.errors.handler500"

api_v1 = [
    path("token/", TokenObtainView.as_view(), name="token-obtain"),
    path("token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("token/logout/", LogoutView.as_view(), name="token-logout"),
    path("me/", MeView.as_view(), name="me"),
    path("ping/", views.ping, name="ping"),
    path("", include("jobs.api.urls")),
    path("", include("jobs.api.explain")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="schema"),
    # The split view serves Swagger UI's init script as a file (no inline script: the CSP allows none).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", permission_classes=[]), name="api-docs"),
    path("admin/", admin.site.urls),
]
