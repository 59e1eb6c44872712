"""The baseline of the benchmark: a bare Pyramid "hello world" view, served by the same gunicorn configuration
(etc/gunicorn.conf.py, same workers) as the portal, so every figure is a ratio to what the server itself costs."""
from pyramid.config import Configurator
from pyramid.response import Response


def hello(request):
    return Response("Hello world", content_type="text/plain")


def main(global_config, **settings):
    with Configurator(settings=settings) as config:
        config.add_route("hello", "/")
        config.add_view(hello, route_name="hello")
    return config.make_wsgi_app()
