"""Write paths for fault-tolerance tests, added through the plugin hook like any integrator's views.

- ``POST /_test/ecrire?id=X`` records X (idempotent: a retried or replayed commit writes the same key) and takes
  a number from the portal's conflict-resolving counter.
- ``POST /_test/compteur?delay=S`` increments a plain persistent counter, which does NOT resolve conflicts: two
  concurrent increments conflict, and pyramid_retry must retry the loser. ``delay`` sleeps on the first attempt
  only, between the read and the write, so a test can make another process commit in between.
- ``GET /_test/lecture/{id}`` and ``GET /_test/etat`` read back.
"""
from __future__ import annotations

import os
import time

from persistent.mapping import PersistentMapping
from pyramid.httpexceptions import HTTPNotFound
from pyramid.security import NO_PERMISSION_REQUIRED

from compte_citoyen.plugins import hookimpl
from compte_citoyen.resources import Folder

FOLDER = "fault_test"


def create_folder(portal, registry):
    """The plugin's folder and its non-resolving counter."""
    folder = portal.ensure_folder(FOLDER, Folder)
    folder.counter = PersistentMapping({"value": 0})


def _attempt(request) -> int:
    return int(request.environ.get("retry.attempt", 0))


def write(request):
    folder = request.app_root[FOLDER]
    record_id = request.params["id"]
    number = request.app_root.next_number("fault_test")
    folder.data[record_id] = (os.getpid(), number)
    return {"id": record_id, "number": number, "pid": os.getpid(), "attempt": _attempt(request)}


def increment(request):
    folder = request.app_root[FOLDER]
    value = folder.counter["value"]
    delay = float(request.params.get("delay", 0) or 0)
    if delay and _attempt(request) == 0:
        time.sleep(delay)
    folder.counter["value"] = value + 1
    return {"value": value + 1, "pid": os.getpid(), "attempt": _attempt(request)}


def read(request):
    folder = request.app_root[FOLDER]
    record = folder.data.get(request.matchdict["id"])
    if record is None:
        raise HTTPNotFound()
    return {"id": request.matchdict["id"], "pid": record[0], "number": record[1]}


def state(request):
    folder = request.app_root[FOLDER]
    return {"records": len(folder.data), "counter": folder.counter["value"], "pid": os.getpid()}


@hookimpl
def compte_citoyen_configure(config):
    config.add_evolve_step("fault_test:0001-folder", create_folder)
    config.add_route("fault_write", "/_test/ecrire")
    config.add_route("fault_increment", "/_test/compteur")
    config.add_route("fault_read", "/_test/lecture/{id}")
    config.add_route("fault_state", "/_test/etat")
    options = {"renderer": "json", "permission": NO_PERMISSION_REQUIRED, "require_csrf": False}
    config.add_view(write, route_name="fault_write", request_method="POST", **options)
    config.add_view(increment, route_name="fault_increment", request_method="POST", **options)
    config.add_view(read, route_name="fault_read", request_method="GET", **options)
    config.add_view(state, route_name="fault_state", request_method="GET", **options)
