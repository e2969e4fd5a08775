from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import LogoutView, TokenObtainView, TokenRefreshView
from scheduler_site import views

handler404 = "scheduler_site.errors.handler404"
handler500 = "scheduler_site.errors.handler500"

api_v1 = [
    path("token/", TokenObtainView.as_view(), name="token-obtain"),
    path("token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("token/logout/", LogoutView.as_view(), name="token-logout"),
    path("ping/", views.ping, name="ping"),
    path("", include("jobs.api.urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[]), name="api-docs"),
    path("admin/", admin.site.urls),
]
