"""Billing: régies from plugins, invoices, basket and card payment."""


def includeme(config):
    pass
