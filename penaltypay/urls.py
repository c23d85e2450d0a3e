from django.urls import include, path

from penaltypay.api import docs as api_docs
from penaltypay.api.v1 import api as api_v1
from penaltypay.citizen import views as citizen_views
from penaltypay.operations import views as operations_views
from penaltypay.webhooks import views as webhook_views

urlpatterns = [
    path("", include("penaltypay.citizen.urls")),
    path("webhooks/pay", webhook_views.provider_webhook, name="pay-webhook"),
    path("healthz", operations_views.liveness, name="liveness"),
    path("readyz", operations_views.readiness, name="readiness"),
    path("staff/", include("penaltypay.staff.urls")),
    path("api/v1/docs", api_docs.docs, name="api-docs"),
    path("api/v1/", api_v1.urls),
    path("metrics", operations_views.metrics, name="metrics"),
    path("robots.txt", citizen_views.robots),
]

handler400 = "penaltypay.citizen.errors.bad_request"
handler403 = "penaltypay.citizen.errors.forbidden"
handler404 = "penaltypay.citizen.errors.not_found"
handler500 = "penaltypay.error_pages.server_error"
