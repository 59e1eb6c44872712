"""Realistic data for load tests: French households, their members and accounts, requests in every step with their
messages, and invoices in every régie.

Everything goes through the domain packages' own APIs (``HouseholdFolder.new_household``,
``AccountFolder.add_account``, ``procedures.workflow.file_submission`` / ``change_status`` / ``record_decision``,
``notify_household``, ``InvoiceFolder.add_invoice`` / ``set_state``), so every index is maintained exactly as the
application maintains it; only the expensive argon2 hashes are computed once and shared by every generated account.
Households are written in batches, one transaction per batch, with the connection cache emptied between batches so
memory stays flat whatever the number of households.
"""
from __future__ import annotations

import datetime
import logging
import random
from typing import Callable

from ..household.workdays import local_today
from ..security import utcnow

log = logging.getLogger(__name__)

FAMILY_NAMES = """Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefebvre Leroy
Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau Vincent Muller Lefevre Faure Andre
Mercier Blanc Guerin Boyer Garnier Chevalier Francois Legrand Gauthier Garcia Perrin Robin Clement Morin Nicolas Henry
Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noel Meyer Dufour Meunier Brun Blanchard
Giraud Joly Riviere Lucas Brunet Gaillard Barbier Arnaud Martinez Gerard Roche Renard Schmitt Roy Leroux Colin Vidal
Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix Olivier Philippe Bourgeois Pierre Benoit Rey Leclerc
Payet Rolland Leclercq Guillaume Lecomte Lopez Jean Dupuy Guillot Hubert Berger Carpentier Sanchez Dupuis Moulin Louis
Deschamps Huet Vasseur Perez Boucher Fleury Royer Klein Jacquet Adam Paris Poirier Marty Aubry Guyot Carre Charles
Renault Charpentier Menard Maillard Baron Bertin Bailly Herve Schneider Fernandez Le_Gall Collet Leger Bouvier
Julien Prevost Millet Perrot Daniel Le_Roux Cousin Germain Breton Besson Langlois Remy Le_Goff Pelletier
L\u00e9v\u00eaque Perrier Leblanc Barre Lebrun Marchal Weber Mallet Hamon Boulanger Jacob Monnier Michaud Rodriguez
Guichard Gillet Etienne Grondin Poulain Tessier Chevallier Collin Chauvin Da_Silva Bouchet Gay Lemaitre
B\u00e9nard Mar\u00e9chal Humbert Reynaud Antoine Hoarau Perret Barthelemy Cordier Pichon Lejeune Gilbert Lamy
Delaunay Pasquier Carlier Laporte""".split()
# "Le_Gall" is "Le Gall": two-word names are written with "_" above
FAMILY_NAMES = [name.replace("_", " ") for name in FAMILY_NAMES]

WOMEN = """Marie Nathalie Isabelle Sylvie Catherine Martine Christine Fran\u00e7oise Val\u00e9rie Sandrine Sophie
Anne Monique Nicole C\u00e9line St\u00e9phanie Ve\u00f3nique Jacqueline Chantal Aur\u00e9lie Julie Camille L\u00e9a
Manon Chlo\u00e9 Emma In\u00e8s Sarah Laura Pauline Mathilde Marion Lucie Oc\u00e9ane Clara Ana\u00efs Jade Louise
Alice Lina Zo\u00e9 Rose Ambre Agathe Fatima A\u00efcha Yasmine Nour""".replace("Ve\u00f3nique", "V\u00e9ronique").split()
MEN = """Jean Philippe Michel Alain Patrick Nicolas Christophe Pierre Christian \u00c9ric Laurent Fr\u00e9d\u00e9ric
Olivier David St\u00e9phane Julien S\u00e9bastien Thomas Daniel Pascal Bernard Fran\u00e7ois Thierry Lucas Hugo
Louis Gabriel Arthur Jules Rapha\u00ebl L\u00e9o Adam Nathan Paul Ethan Noah Tom Th\u00e9o Mohamed Karim Youssef
Mehdi Antoine Maxime Alexandre Romain Quentin Baptiste""".split()
STREETS = """rue de la R\u00e9publique|avenue Jean-Jaur\u00e8s|rue Victor-Hugo|rue des Lilas|boulevard Gambetta|
rue Pasteur|place de la Mairie|chemin des Vignes|rue du Moulin|all\u00e9e des Tilleuls|rue de l'\u00c9glise|
impasse des Roses|rue Jules-Ferry|avenue de la Gare|rue du Stade|rue des \u00c9coles|quai de la Loire|
rue Pierre-et-Marie-Curie|rue Anatole-France|avenue du G\u00e9n\u00e9ral-de-Gaulle""".replace("\n", "").split("|")
SCHOOLS = ["\u00c9cole Jules-Ferry", "\u00c9cole des Tilleuls", "\u00c9cole Marie-Curie", "Groupe scolaire Pasteur"]
CLASSES = ["PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2"]
QUESTIONS = ["Quel est le nom de votre premier animal ?", "Dans quelle ville \u00eates-vous n\u00e9(e) ?",
             "Quel est le pr\u00e9nom de votre grand-m\u00e8re ?"]
MOTIVES_ACCEPTED = ["", "Rendez-vous confirm\u00e9.", "Votre demande est compl\u00e8te."]
MOTIVES_REFUSED = ["Pi\u00e8ces justificatives incompl\u00e8tes.", "Demande hors d\u00e9lai.",
                   "Le service ne couvre pas votre adresse."]
INVOICE_LABELS = {
    "scolaire": ["Restauration scolaire", "Fournitures"],
    "periscolaire": ["Accueil p\u00e9riscolaire du matin", "\u00c9tude surveill\u00e9e", "Centre de loisirs"],
    "petite_enfance": ["Cr\u00e8che municipale", "Halte-garderie"],
    "ccas": ["Portage de repas", "Aide \u00e0 domicile", "T\u00e9l\u00e9assistance"],
}

#: how requests are spread over the 4 steps (received, being processed, decision taken, completed)
STEP_WEIGHTS = (15, 25, 20, 40)



class Generator:
    """Fill the database of ``env`` (a ``compte_citoyen.cli.Env``) with ``run(households)``."""

    def __init__(self, env, seed: int = 1, requests_per_household: int = 10, invoices_per_household: int = 10,
                 password: str = "motdepasse-bench-2026"):
        from ..authentication.passwords import hash_answer, hash_password
        self.env = env
        self.random = random.Random(seed)
        self.requests_per_household = requests_per_household
        self.invoices_per_household = invoices_per_household
        self.password = password
        self.password_hash = hash_password(password)
        self.answer_hashes = {q: hash_answer("Clairval") for q in QUESTIONS}
        self.now = utcnow()
        self.failures: dict[str, int] = {}
        self.templates: dict[tuple, list] = {}
        self.stats = {"households": 0, "members": 0, "accounts": 0, "requests": 0, "messages": 0, "invoices": 0}
        self.procedures = self._procedures()
        self.regies = self._regies()
        if not self.procedures:
            log.warning("no procedure is registered (activate the procedure plugins): no request generated")
        if not self.regies:
            log.warning("no régie is registered (activate the régie plugins): no invoice generated")

    # --- what the plugins offer ---------------------------------------------------------------------

    def _procedures(self) -> list:
        try:
            from ..procedures.registry import get_registry
        except ImportError:  # pragma: no cover - procedures package absent
            return []
        return sorted((p for p in get_registry(self.env.registry).procedures.values() if p.account_required),
                      key=lambda p: p.code)

    def _regies(self) -> list:
        try:
            from ..billing.regie import get_regies
        except ImportError:  # pragma: no cover
            return []
        return [get_regies(self.env.registry)[code] for code in sorted(get_regies(self.env.registry))]

    # --- the run ------------------------------------------------------------------------------------

    def run(self, households: int, batch: int = 1000, progress: Callable[[int, int], None] | None = None) -> dict:
        """Create ``households`` households in transactions of ``batch`` households; return counts."""
        from ..resources import set_number_block
        with self.env.transaction() as (_tm, portal):
            start = len(portal["households"])
        done = 0
        # alone on the database: readable numbers are reserved a thousand at a time, not one transaction each
        set_number_block(self.env.db, 1000)
        try:
            while done < households:
                size = min(batch, households - done)
                self._batch(start + done, size)
                done += size
                if progress is not None:
                    progress(done, households)
        finally:
            set_number_block(self.env.db, None)
        return dict(self.stats)

    def _batch(self, first: int, size: int) -> None:
        import transaction
        tm = transaction.TransactionManager(explicit=True)
        conn = self.env.db.open(transaction_manager=tm)
        try:
            with tm:
                from ..database import ROOT_KEY
                portal = conn.root()[ROOT_KEY]
                for index in range(first, first + size):
                    self.household(portal, index)
                tm.get().note(f"generate-data: households {first}-{first + size - 1}")
            conn.cacheMinimize()
        finally:
            conn.close()

    # --- one household ------------------------------------------------------------------------------

    def household(self, portal, index: int) -> None:
        from ..authentication.models import PENDING, VALIDATED, Account
        from ..household.models import ADULT, CHILD, EMAIL, PHONE, SMS, Member, new_id
        r = self.random
        family = r.choice(FAMILY_NAMES)
        household = portal["households"].new_household(family)
        created = self.now - datetime.timedelta(days=r.randint(30, 900), seconds=r.randint(0, 86399))
        household.created = created
        household.address = f"{r.randint(1, 180)} {r.choice(STREETS)}"
        household.postcode = "37" + f"{r.randint(0, 999):03d}"
        household.city = "Clairval"
        household.communication = r.choices((EMAIL, SMS, PHONE), (70, 20, 10))[0]
        woman = r.random() < 0.5
        first = r.choice(WOMEN if woman else MEN)
        login = f"{_ascii(first)[0]}{_ascii(family)}{index}".lower().replace(" ", "").replace("'", "")
        holder = Member(new_id(), ADULT, family, first, _birth(r, 22, 80), civility="Mme" if woman else "M.",
                        sex="F" if woman else "M", relation="holder",
                        email=f"{login}@example.org", mobile=f"06{r.randint(0, 99_999_999):08d}")
        household.add_member(holder)
        household.holder_id = holder.id
        members = [holder]
        if r.random() < 0.6:
            other_woman = not woman if r.random() < 0.9 else woman
            members.append(household.add_member(Member(
                new_id(), ADULT, family if r.random() < 0.7 else r.choice(FAMILY_NAMES),
                r.choice(WOMEN if other_woman else MEN), _birth(r, 22, 80),
                civility="Mme" if other_woman else "M.", sex="F" if other_woman else "M", relation="spouse")))
        for _ in range(r.choices((0, 1, 2, 3, 4), (35, 25, 25, 12, 3))[0]):
            girl = r.random() < 0.5
            members.append(household.add_member(Member(
                new_id(), CHILD, family, r.choice(WOMEN if girl else MEN), _birth(r, 0, 17),
                sex="F" if girl else "M", relation="child", school=r.choice(SCHOOLS),
                school_class=r.choice(CLASSES))))
        question = r.choice(QUESTIONS)
        account = Account(login, self.password_hash, household.id, holder.id, question, self.answer_hashes[question],
                          created=created)
        portal["accounts"].add_account(account)
        validated = r.random() < 0.95
        if validated:
            portal["accounts"].set_state(account, VALIDATED)
            account.validated_at = created + datetime.timedelta(days=r.randint(0, 3))
            for regie in self.regies:
                household.billing_refs[regie.code] = f"{regie.code.upper()}-{index:07d}"
        else:
            assert account.state == PENDING
        self.stats["households"] += 1
        self.stats["members"] += len(members)
        self.stats["accounts"] += 1
        if self.procedures:
            for _ in range(self._count(self.requests_per_household)):
                self.request(portal, household, account, members, created)
        if validated and self.regies:
            for number in range(self._count(self.invoices_per_household)):
                self.invoice(portal, household, members, index, number)

    def _count(self, average: int) -> int:
        """Around ``average`` (from 60% to 140% of it, the mean being ``average``)."""
        if average <= 0:
            return 0
        return self.random.randint(max(0, average * 6 // 10), average * 14 // 10)

    # --- requests and their messages ----------------------------------------------------------------

    def request(self, portal, household, account, members: list, since: datetime.datetime) -> None:
        from ..notification.models import QUEUED, SENT
        from ..procedures import workflow
        from ..procedures.models import DOC_MISSING, DOC_PAPER
        from ..procedures.registry import ACCEPTED, ADULTS, CHILDREN, NO_MEMBER, REFUSED
        r = self.random
        request = self.env.request
        procedure = r.choice(self.procedures)
        candidates = {ADULTS: [m for m in members if m.kind == "adult"],
                      CHILDREN: [m for m in members if m.kind == "child"]}.get(procedure.member_kinds, members)
        if procedure.member_kinds != NO_MEMBER and not candidates:
            procedure = next((p for p in self.procedures if p.member_kinds != "children"), procedure)
            candidates = members
        member = r.choice(candidates) if procedure.member_kinds != NO_MEMBER and candidates else None
        age = (self.now - since).total_seconds()
        created = since + datetime.timedelta(seconds=r.uniform(0, age))
        filled = self._answers(request, portal, procedure, household, account, member)
        if filled is None:
            return
        answers, summary = filled
        documents = [(doc, DOC_PAPER if doc.required or r.random() < 0.5 else DOC_MISSING, None)
                     for doc in procedure.documents]
        submission, _token = workflow.file_submission(
            request, portal, procedure, answers=answers, summary=summary, documents=documents,
            household=household, account=account, member=member, created=created, notify=True)
        step = r.choices((1, 2, 3, 4), STEP_WEIGHTS)[0]
        workflow_ = procedure.workflow
        if step >= 2:
            status = next((s for s in workflow_ if s.step == 2), None)
            if status is not None:
                workflow.change_status(request, portal, submission, status.code)
        if step >= 3:
            accepted = r.random() < 0.8
            decision = ACCEPTED if accepted else REFUSED
            if procedure.decision_status(decision) is not None:
                workflow.record_decision(request, portal, submission, decision,
                                         r.choice(MOTIVES_ACCEPTED if accepted else MOTIVES_REFUSED))
        if step >= 4:
            status = next((s for s in workflow_ if s.step == 4), None)
            if status is not None and submission.step < 4:
                workflow.change_status(request, portal, submission, status.code)
        self.stats["requests"] += 1
        # the past messages were delivered long ago: never let a worker send them now
        outbox = portal["outbox"]
        for message in self._messages_of(outbox, submission.number):
            if message.state == QUEUED:
                outbox.set_state(message, SENT)
                message.sent_at = message.created
            self.stats["messages"] += 1

    def _answers(self, request, portal, procedure, household, account, member):
        """Validated answers for ``procedure`` about ``member``: a few are built per procedure and kind of member
        through the procedure's own schemas (``formfill``), then reused with this household's names."""
        from ..procedures.schemas import MEMBER_FIELD
        from .formfill import fill_procedure
        key = (procedure.code, member.kind if member is not None else None)
        templates = self.templates.setdefault(key, [])
        if len(templates) < 4:
            try:
                filled = fill_procedure(request, portal, procedure, household, account, member, self.random)
            except Exception:  # a plugin's form that cannot be built: leave the procedure out, say so
                log.exception("the form of %s cannot be filled: left out of the generated requests", procedure.code)
                filled = None
                self.failures[procedure.code] = 99
            if filled is None:
                self.failures[procedure.code] = self.failures.get(procedure.code, 0) + 1
                if self.failures[procedure.code] >= 5:
                    log.warning("no valid answers for %s: left out of the generated requests", procedure.code)
                    self.procedures = [p for p in self.procedures if p.code != procedure.code]
                return None
            person = member or household.holder
            templates.append((filled[0], filled[1], _names(person)))
            return filled[0], filled[1]
        answers, summary, names = self.random.choice(templates)
        person = member or household.holder
        replacements = [(old, new) for old, new in zip(names, _names(person)) if old and old != new]

        def swap(value):
            if isinstance(value, str):
                for old, new in replacements:
                    value = value.replace(old, new)
            return value

        answers = {index: {k: swap(v) for k, v in values.items()} for index, values in answers.items()}
        if member is not None and 0 in answers and MEMBER_FIELD in answers[0]:
            answers[0][MEMBER_FIELD] = member.id
        summary = [(title, [(label, swap(value)) for label, value in lines]) for title, lines in summary]
        return answers, summary

    @staticmethod
    def _messages_of(outbox, number: str) -> list:
        """The acknowledgement and decisions of request ``number``, oldest first."""
        decision = f"request-decision:{number}:"
        return [message for message in reversed(outbox.for_request(number))
                if message.event_key == f"request-received:{number}" or message.event_key.startswith(decision)]

    # --- invoices -----------------------------------------------------------------------------------

    def invoice(self, portal, household, members: list, index: int, number: int) -> None:
        from ..billing.models import PAID, Invoice, InvoiceLine
        r = self.random
        regie = self.regies[number % len(self.regies)] if number < len(self.regies) else r.choice(self.regies)
        domain = r.choice(regie.domains) if regie.domains else regie.code
        labels = INVOICE_LABELS.get(domain) or INVOICE_LABELS.get(regie.code) or ["Prestation"]
        children = [m for m in members if m.kind == "child"] or members
        issue = (self.now - datetime.timedelta(days=r.randint(0, 420))).date()
        lines = [InvoiceLine(r.choice(labels), r.randint(300, 9000), m.id, m.full_name)
                 for m in r.sample(children, k=min(len(children), r.randint(1, 2)))]
        invoice = Invoice(regie.code, f"G{index:07d}-{number:02d}", household.id, issue,
                          issue + datetime.timedelta(days=30), lines,
                          label=f"{lines[0].label} {issue:%m/%Y}", source="generated")
        folder = portal["invoices"]
        folder.add_invoice(invoice)
        # older invoices are mostly paid; the last weeks' mostly waiting
        if r.random() < (0.9 if (self.now.date() - issue).days > 45 else 0.3):
            folder.set_state(invoice, PAID)
            invoice.paid_at = datetime.datetime.combine(issue + datetime.timedelta(days=r.randint(1, 30)),
                                                        datetime.time(12), datetime.timezone.utc)
        self.stats["invoices"] += 1


def _names(person) -> tuple[str, str, str, str]:
    """What a template's answers may say about its person (replaced by another person's)."""
    return (person.full_name, person.family_name, person.first_names, getattr(person, "email", "") or "")


def _birth(r: random.Random, youngest: int, oldest: int) -> datetime.date:
    today = local_today()
    return today - datetime.timedelta(days=r.randint(youngest * 365 + 30, oldest * 365 + 300))


def _ascii(text: str) -> str:
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
