"""Emulators of the remote services adcml provisions, one package each, all of one shape
(after moto's services):

- ``urls.py``: which paths go where;
- ``responses.py``: the wire: read the request's parameters, call the backend, serialise the
  answer; no behaviour;
- ``backend.py`` and ``models/``: the service's state and behaviour, with no HTTP in them, so
  they can be tested without a server;
- ``exceptions.py``: the service's own errors, as its API reports them;
- ``server.py``: serves ``urls`` on an event loop (in a thread for tests, or in the foreground).

``adc`` is the lab ADC (NITRO, and a data plane that carries traffic as configured).
"""
