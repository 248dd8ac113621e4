"""Ansible callback for the tests: every task result as one JSON line in $ADCML_RECORD.

Enabled with ANSIBLE_CALLBACKS_ENABLED=adcml_record (see ansible_harness.py). Results are
recorded as the controller sees them, after no_log censoring.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: adcml_record
type: notification
short_description: Record task results as JSON lines (adcml tests)
description:
  - Appends one JSON object per task result (task, host, status, result) to the file named by
    the ADCML_RECORD environment variable.
requirements:
  - enabled with ANSIBLE_CALLBACKS_ENABLED=adcml_record
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "adcml_record"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, status: str, result) -> None:
        path = os.environ.get("ADCML_RECORD")
        if not path:
            return
        entry = {"task": result.task.get_name(), "host": result.host.get_name(), "status": status,
                 "time": time.time(), "result": dict(result.result)}
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    def v2_runner_on_ok(self, result) -> None:
        self._record("changed" if result.result.get("changed") else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:
        self._record("ignored" if ignore_errors else "failed", result)

    def v2_runner_on_skipped(self, result) -> None:
        self._record("skipped", result)
