"""The stand-in's state without HTTP: endpoint records and their states (``endpoint``,
``states``), what a request body may say (``config``), tokens (``accounts``) and the record of
data-plane requests (``traffic``)."""
