"""The staff back office under /backoffice/."""


def create_staff_folders(portal, registry):
    """Create the staff folder and the audit journal."""
    from .models import Journal, StaffFolder
    portal.ensure_folder("staff", StaffFolder)
    portal.ensure_folder("journal", Journal)


def includeme(config):
    config.add_evolve_step("core:0004-staff-journal", create_staff_folders)
