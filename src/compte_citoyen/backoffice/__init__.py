"""The staff back office under /backoffice/."""


def create_staff_folders(portal, registry):
    """Create the staff folder and the audit journal."""
    from .models import Journal, StaffFolder
    portal.ensure_folder("staff", StaffFolder)
    portal.ensure_folder("journal", Journal)


def create_login_throttle(portal, registry):
    """Create the staff login throttle (failed attempts per login and per address)."""
    from .models import LoginThrottle
    staff = portal["staff"]
    if getattr(staff, "throttle", None) is None:
        staff.throttle = LoginThrottle()


def includeme(config):
    config.add_evolve_step("core:0004-staff-journal", create_staff_folders)
    config.add_evolve_step("core:0041-staff-login-throttle", create_login_throttle)
    config.add_translation_dirs("compte_citoyen.backoffice:locale/")
