"""The lab ADC: a NITRO-compatible stand-in for a NetScaler, with a data plane
(docs/lab-adc.md, docs/lab-dataplane.md).

- ``urls``: /nitro/v1/... to ``responses``, /lab/... to ``control_responses``, /lab/dataplane
  to ``dataplane.control``;
- ``responses``: the NITRO wire (paths, queries, sessions' tokens, envelopes, bulk answers);
  ``control_responses``: the wire of the test controls (/lab/...);
- ``backend``: ``LabADC``, one appliance's state and behaviour (running and saved config,
  sessions, actions, statistics, test controls); its parts are in ``models``;
- ``dataplane``: the traffic the running config describes (built from the config store);
- ``exceptions``: ``NitroFault``, an error as NITRO answers it;
- ``server``: ``LabServer``, serving one ``LabADC`` over HTTP and HTTPS.
"""
