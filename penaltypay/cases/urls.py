"""Operator endpoints for the extract imports; mounted under /ops/ by penaltypay/urls.py:
    path("ops/", include("penaltypay.cases.urls")),
"""
from django.urls import path

from penaltypay.cases import views

urlpatterns = [
    path("extract-imports", views.extract_imports, name="ops-extract-imports"),
    path("extract-imports/<int:pk>", views.extract_import, name="ops-extract-import"),
    path("extract-imports/<int:pk>/<str:kind>.csv", views.extract_import_records, name="ops-extract-import-records"),
]
