"""The lab ADC's data plane: it carries traffic the way the running config says.

    client ─TLS─▶ listener (csvserver/lbvserver VIP) ─▶ request policies (authentication,
    responder, rewrite) ─▶ content switch ─▶ LB vserver (its policies, then the integrated
    cache) ─▶ member (UP per its monitors) or backup vserver ─▶ response ─▶ audit line

Modules, one noun each: ``tables`` (running config → routing tables, pure), ``engine``
(reconcile and the request path; what it observes for NITRO GETs and stat), ``flow`` (one
request on its way), ``listeners``, ``tls``, ``balance``, ``health`` (monitors), ``proxy``
(forwarding), ``reach`` (where the lab may connect: loopback and what it allows), ``authn``,
``rules`` (responder, rewrite, goto), ``limits``, ``cache`` (integrated caching), ``access``
(audit log), ``control`` (``GET /lab/dataplane``). It is built from the config store (which
it reads; it never writes it). See docs/lab-dataplane.md.
"""
