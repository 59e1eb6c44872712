"""Read your own writes across ZEO workers without server-sync: the cookie of the last commit, and a round trip to
the server only when a worker's view is older than it."""
from types import SimpleNamespace

from pyramid.response import Response
from pyramid.testing import DummyRequest

from compte_citoyen import database


class FakeZEOStorage:
    """What ``catch_up`` reads of a ZEO ``ClientStorage``."""

    server_sync = False

    def __init__(self, last: int):
        self.last = last
        self.pings = 0

    def lastTransaction(self) -> bytes:  # noqa: N802 - storage API
        return self.last.to_bytes(8, "big")

    def ping(self) -> None:
        self.pings += 1
        self.last += 5  # the server's answer comes after the invalidations it sent before


def make_request(storage, method: str = "GET", seen: str | None = None) -> DummyRequest:
    request = DummyRequest(method=method, cookies={database.SEEN_COOKIE: seen} if seen is not None else {})
    request.registry = SimpleNamespace(_zodb_databases={"": SimpleNamespace(storage=storage)},
                                       settings={"compte_citoyen.secure_cookies": True})
    return request


def test_a_worker_behind_the_browser_asks_the_server_first():
    storage = FakeZEOStorage(last=100)
    database.catch_up(make_request(storage, seen=(103).to_bytes(8, "big").hex()))
    assert storage.pings == 1 and storage.last == 105


def test_a_worker_up_to_date_opens_its_connection_at_once():
    storage = FakeZEOStorage(last=100)
    for seen in [(100).to_bytes(8, "big").hex(), (42).to_bytes(8, "big").hex(), None, "", "not hex", "00ff"]:
        database.catch_up(make_request(storage, seen=seen))
    assert storage.pings == 0


def test_a_change_tells_the_browser_which_transaction_to_wait_for():
    storage = FakeZEOStorage(last=100)
    get = make_request(storage, "GET")
    database.catch_up(get)
    assert not get.response_callbacks  # reading sets no cookie
    post = make_request(storage, "POST")
    database.catch_up(post)
    storage.last = 120  # committed by this request
    response = Response()
    for callback in post.response_callbacks:
        callback(post, response)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{database.SEEN_COOKIE}={(120).to_bytes(8, 'big').hex()};")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "secure" in cookie.lower()


def test_other_storages_need_nothing():
    """FileStorage and RelStorage (which polls at each transaction) have no ping, and server-sync pings itself."""
    synced = FakeZEOStorage(last=1)
    synced.server_sync = True
    local = SimpleNamespace(lastTransaction=lambda: (0).to_bytes(8, "big"))
    for storage in (synced, local):
        request = make_request(storage, "POST", seen=(50).to_bytes(8, "big").hex())
        database.catch_up(request)
        assert not request.response_callbacks
    assert synced.pings == 0
