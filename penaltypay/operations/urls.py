"""Operator endpoints, mounted under /ops/ by penaltypay/urls.py."""

from django.urls import path

from penaltypay.operations import extract_views, views

urlpatterns = [
    path("outbox", views.outbox_status, name="ops-outbox"),
    path("extract-imports", extract_views.extract_imports, name="ops-extract-imports"),
    path("extract-imports/<int:pk>", extract_views.extract_import, name="ops-extract-import"),
    path(
        "extract-imports/<int:pk>/<str:kind>.csv",
        extract_views.extract_import_records,
        name="ops-extract-import-records",
    ),
]
