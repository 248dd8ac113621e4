"""What the lab's traffic needs besides the emulators: the IdP (``idp``, with ``idp_app`` and
``idp_store``; its client ``idp_client``), the demo chat backends (``demo_backend``) and the PKI
(``pki``)."""
