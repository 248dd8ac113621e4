"""``adcml lab ...``: the local lab as background processes, and the test hosts.

``layout`` (addresses and paths), ``processes`` (pid files, start, stop), ``pki_files`` (the
lab CA and the gateway's certificate), ``lifecycle`` (up, down), ``status``, ``smoke`` (token,
smoke check, how to try it), ``wheelhouse``, ``hosts`` and ``netns`` (test hosts).
"""
