"""The project's URLs with the extract operator views mounted as penaltypay/urls.py will."""
from django.urls import include, path

from penaltypay.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns, path("ops/", include("penaltypay.cases.urls"))]
