"""The lab ADC's state and behaviour, without HTTP: the running config and what each resource
does (``store``, ``behaviours`` and the modules they register in ``registry``), sessions,
test controls, and the statistics a ``Traffic`` provider feeds."""
