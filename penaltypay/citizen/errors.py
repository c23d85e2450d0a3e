"""GOV.UK-style error pages (400, 403 incl. CSRF failure, 404, 500, and 503 while the
database is away)."""

from django.shortcuts import render


def bad_request(request, exception=None):
    return render(request, "citizen/errors/400.html", status=400)


def forbidden(request, exception=None):
    return render(request, "citizen/errors/403.html", status=403)


def csrf_failure(request, reason=""):
    # Usually an expired form: say so plainly and offer a way back.
    return render(request, "citizen/errors/csrf.html", status=403)


def not_found(request, exception=None):
    return render(request, "citizen/errors/404.html", status=404)


def server_error(request):
    return render(request, "citizen/errors/500.html", status=500)


def unavailable(request, exception=None):
    return render(request, "citizen/errors/503.html", status=503)
