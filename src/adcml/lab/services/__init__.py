"""What the lab's traffic needs besides the emulators: the IdP (``idp``, ``idp_client``), the
demo chat backends (``demo_backend``) and the PKI (``pki``)."""
