"""Procedures: themes from plugins, guided forms, attachments, requests with 4-step progress."""


def includeme(config):
    pass
