from django.urls import include, path

from penaltypay.citizen import views as citizen_views
from penaltypay.operations import views as operations_views
from penaltypay.payments import views as payments_views

urlpatterns = [
    path("", include("penaltypay.citizen.urls")),
    path("webhooks/pay", payments_views.provider_webhook, name="pay-webhook"),
    path("healthz", operations_views.liveness, name="liveness"),
    path("readyz", operations_views.readiness, name="readiness"),
    path("ops/outbox", operations_views.outbox_status, name="ops-outbox"),
    path("metrics", operations_views.metrics, name="metrics"),
    path("ops/", include("penaltypay.cases.urls")),
    path("robots.txt", citizen_views.robots),
]

handler400 = "penaltypay.citizen.errors.bad_request"
handler403 = "penaltypay.citizen.errors.forbidden"
handler404 = "penaltypay.citizen.errors.not_found"
handler500 = "penaltypay.citizen.errors.server_error"
