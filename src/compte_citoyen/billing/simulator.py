"""A local simulated payment provider for development and tests (refused in production).

eopayment's ``dummy`` backend sends the browser to a remote demonstration site out of reach here, so a régie
configured with ``<prefix>.payment.service_url = simulator`` (the default outside production) pays through
this page instead. It speaks the SystemPay protocol the portal's real ``systempayv2`` backend speaks: it checks
the signature of the form the portal sends, lets the person choose "Payer", "Refuser" or "Annuler", then — like
the bank — posts a signed server-to-server notification to ``vads_url_check`` and sends the browser back to
``vads_url_return`` with the same signed fields. Its signing code is written from the protocol, independently
of eopayment's, so the portal's signature check is really exercised.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import logging
import secrets
import urllib.parse
import urllib.request

from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound, HTTPSeeOther
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ..i18n import _
from .models import format_amount
from .regie import get_regies, uses_simulator

log = logging.getLogger(__name__)

#: the person's choice -> (vads_result, vads_auth_result, vads_trans_status)
DECISIONS = {
    "pay": ("00", "00", "AUTHORISED"),
    "refuse": ("05", "05", "REFUSED"),
    "cancel": ("17", "", "ABANDONED"),
}
#: request fields a SystemPay server does not send back
NOT_ECHOED = {"vads_url_return", "vads_url_check", "vads_url_success", "vads_url_refused", "vads_url_cancel",
              "vads_url_error", "vads_url_referral", "vads_return_mode", "vads_action_mode", "vads_page_action",
              "vads_theme_config", "vads_contrib"}


def sign(fields: dict, secret: str, algo: str = "sha1") -> str:
    """SystemPay signature: the ``vads_*`` values sorted by name, joined with ``+``, then ``+secret``."""
    values = [str(fields[name]) for name in sorted(k for k in fields if k.startswith("vads_"))]
    data = "+".join(values + [secret]).encode("utf-8")
    if algo == "hmac_sha256":
        return base64.b64encode(hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest()).decode("ascii")
    return hashlib.sha1(data).hexdigest()


def http_post(url: str, data: dict) -> int:
    """Post the server-to-server notification the way a bank does (form-encoded, short timeout)."""
    body = urllib.parse.urlencode(data).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 - URL signed by the portal
        return response.status


def get_transport(registry):
    """How the simulator reaches the notification URL; tests without a server replace it on the registry."""
    return getattr(registry, "payment_simulator_transport", None) or http_post


def build_answer(fields: dict, decision: str, secret: str, algo: str) -> dict:
    """The signed answer a SystemPay server would send for this request and decision."""
    result, auth_result, status = DECISIONS[decision]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
    answer = {k: v for k, v in fields.items() if k.startswith("vads_") and k not in NOT_ECHOED}
    answer.update({
        "vads_result": result,
        "vads_auth_result": auth_result,
        "vads_extra_result": "",
        "vads_trans_status": status,
        "vads_effective_amount": fields.get("vads_amount", ""),
        "vads_effective_creation_date": now,
        "vads_auth_number": f"{secrets.randbelow(10 ** 6):06d}" if decision == "pay" else "",
        "vads_auth_mode": "FULL",
        "vads_card_brand": "CB" if decision != "cancel" else "",
        "vads_card_number": "497010XXXXXX0014" if decision != "cancel" else "",
        "vads_payment_certificate": secrets.token_hex(20) if decision == "pay" else "",
        "vads_operation_type": "DEBIT",
        "vads_url_check_src": "PAY",
        "vads_hash": secrets.token_hex(32),
    })
    answer["signature"] = sign(answer, secret, algo)
    return answer


@view_config(route_name="payment_simulator", permission=NO_PERMISSION_REQUIRED, require_csrf=False,
             renderer="templates/simulator.pt")
def simulator(request):
    """The provider's page. Public and CSRF-exempt on purpose: it stands for a bank's site; the portal's
    signature on the fields protects it, and it never touches the database."""
    settings = request.registry.settings
    if settings.get("compte_citoyen.production"):
        raise HTTPNotFound()
    regie = get_regies(request.registry).get(request.matchdict["regie"])
    if regie is None or not uses_simulator(regie):
        raise HTTPNotFound()
    secret = regie.payment_options["secret_test"]
    algo = regie.payment_options.get("signature_algo") or "sha1"
    params = request.POST if request.method == "POST" else request.GET
    fields = {k: v for k, v in params.items() if k.startswith("vads_")}
    signature = params.get("signature", "")
    if not fields or not hmac.compare_digest(sign(fields, secret, algo), signature):
        request.response.status = 400
        return {"page_title": request.translate(_("Payment simulator")), "error": True, "fields": {},
                "signature": "", "amount": "", "regie_label": "", "order": ""}
    decision = params.get("decision")
    if decision not in DECISIONS:
        try:
            amount = format_amount(int(fields.get("vads_amount", "0")))
        except ValueError:
            raise HTTPBadRequest() from None
        return {"page_title": request.translate(_("Payment simulator")), "error": False, "fields": fields,
                "signature": signature, "amount": amount, "regie_label": request.translate(regie.label),
                "order": fields.get("vads_ext_info_eopayment_trans_id") or fields.get("vads_order_id", "")}
    answer = build_answer(fields, decision, secret, algo)
    notify_url = fields.get("vads_url_check")
    if notify_url:
        try:
            get_transport(request.registry)(notify_url, answer)
        except Exception as exc:  # like a bank, carry on: the browser's return carries the answer too
            log.warning("payment simulator: notification to %s failed: %s", notify_url, exc)
    return_url = fields.get("vads_url_return")
    if not return_url:
        raise HTTPNotFound()
    separator = "&" if "?" in return_url else "?"
    return HTTPSeeOther(return_url + separator + urllib.parse.urlencode(answer))
