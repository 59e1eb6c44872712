"""Every public URL of the core, in one place (French paths, English route names).

Domain packages attach their views to these names; a plugin adds its own routes in its
``compte_citoyen_configure`` hook.
"""

ROUTES = [
    # public
    ("home", "/"),
    ("faq", "/aide"),
    ("terms", "/conditions-generales"),
    ("privacy", "/donnees-personnelles"),
    ("accessibility", "/accessibilite"),
    ("health", "/sante"),
    # accounts (authentication package)
    ("login", "/connexion"),
    ("logout", "/deconnexion"),
    ("register", "/creer-votre-compte"),
    ("register_form", "/creer-votre-compte/formulaire"),
    ("register_done", "/creer-votre-compte/termine"),
    ("captcha_image", "/cryptogramme/{token}.png"),
    ("captcha_audio", "/cryptogramme/{token}.wav"),
    ("captcha_new", "/cryptogramme/nouveau"),
    ("lost_password", "/mot-de-passe-oublie"),
    ("lost_password_question", "/mot-de-passe-oublie/question"),
    ("lost_password_sent", "/mot-de-passe-oublie/envoye"),
    ("reset_password", "/nouveau-mot-de-passe/{token}"),
    ("change_password", "/mon-compte/mot-de-passe"),
    # household (household package)
    ("citizen_home", "/accueil"),
    ("my_account", "/mon-compte"),
    ("member", "/mon-compte/membres/{member_id}"),
    ("member_edit", "/mon-compte/membres/{member_id}/modifier"),
    ("member_remove", "/mon-compte/membres/{member_id}/retirer"),
    ("member_add", "/mon-compte/ajouter/{kind}"),
    ("preferences", "/mon-compte/communication"),
    ("household_address", "/mon-compte/adresse"),
    ("my_data", "/mon-compte/mes-donnees.json"),
    ("close_account", "/mon-compte/cloture"),
    # procedures (procedures package)
    ("services", "/services"),
    ("theme", "/services/{theme}"),
    ("procedure", "/services/{theme}/{procedure}"),
    ("draft_resume", "/brouillons/{draft_id}"),
    ("my_requests", "/demandes"),
    ("request_pdf", "/demandes/{number}.pdf"),
    ("request_detail", "/demandes/{number}"),
    ("track", "/suivi/{number}/{token}"),
    # billing (billing package)
    ("my_accounts", "/comptes"),
    ("invoice_pdf", "/comptes/factures/{regie}/{number}.pdf"),
    ("receipt_pdf", "/comptes/recus/{payment_id}.pdf"),
    ("basket", "/panier"),
    ("basket_add", "/panier/ajouter"),
    ("basket_remove", "/panier/retirer"),
    ("basket_extend", "/panier/prolonger"),
    ("basket_pay", "/panier/payer"),
    ("payment_return", "/paiement/retour/{regie}"),
    ("payment_notify", "/paiement/notification/{regie}"),
    ("payment_simulator", "/paiement/simulateur/{regie}"),  # development and tests only
    # back office (backoffice package and the domain packages' staff views)
    ("bo_login", "/backoffice/connexion"),
    ("bo_otp", "/backoffice/connexion/code"),
    ("bo_logout", "/backoffice/deconnexion"),
    ("bo_home", "/backoffice/"),
    ("bo_accounts", "/backoffice/comptes"),
    ("bo_account", "/backoffice/comptes/{code}"),
    ("bo_requests", "/backoffice/demandes"),
    ("bo_request", "/backoffice/demandes/{number}"),
    ("bo_request_attachment", "/backoffice/demandes/{number}/pieces/{code}"),
    ("bo_invoices", "/backoffice/factures"),
    ("bo_regie", "/backoffice/regies/{regie}"),
    ("bo_regie_invoice_new", "/backoffice/regies/{regie}/factures/nouvelle"),
    ("bo_invoice_pdf", "/backoffice/regies/{regie}/factures/{number}.pdf"),
    ("bo_regie_import", "/backoffice/regies/{regie}/import"),
    ("bo_regie_payments_csv", "/backoffice/regies/{regie}/paiements.csv"),
    ("bo_regie_anomaly", "/backoffice/regies/{regie}/anomalies/{anomaly_id}"),
    ("bo_journal", "/backoffice/journal"),
    ("bo_staff", "/backoffice/agents"),
    ("bo_messages", "/backoffice/messages"),
]


def includeme(config):
    for name, pattern in ROUTES:
        config.add_route(name, pattern)
