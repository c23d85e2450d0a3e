"""What the web server refuses before the application sees a request: gunicorn answers 414
for a longer request line (method, path and query) and 400 for a longer header. The web
tier is started with these (penaltypay.operations.web_command) and the API's OpenAPI
document states them (penaltypay.api.v1). 8190 bytes is gunicorn's maximum for both."""

LIMIT_REQUEST_LINE = 8190
LIMIT_REQUEST_FIELD_SIZE = 8190
