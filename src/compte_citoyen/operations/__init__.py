"""Operations: backups and restores, packing, the data generator used by the benchmarks.

The commands (``compte-citoyen INI backup|restore|pack|generate-data``) are in ``commands``; the work is done by
plain functions on file paths and settings (``storage``, ``backup``, ``generate``) so that a restore can also run
without starting the application: ``python -m compte_citoyen.operations INI restore --from DIR`` (needed with ZEO,
whose server must be stopped during a restore).
"""
