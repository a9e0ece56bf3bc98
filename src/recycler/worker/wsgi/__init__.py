"""WSGI apps in a worker (PEP 3333): the container, the response, the environ.

- L{container}: L{container.WSGIContainer}, the twisted.web resource that runs
  the app in the reactor thread or on a thread pool;
- L{response}: one request's C{start_response} and the calls that send it;
- L{environ}: the environ of a request and C{start_response}'s checks.
"""
