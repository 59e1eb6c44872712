# Fixtures come from the pytest plugin ``compte_citoyen.testing`` (entry point pytest11).
