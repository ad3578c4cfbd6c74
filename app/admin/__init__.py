"""/admin: the settings pages for a tenant's admins (server-rendered, session cookie, CSRF-checked)."""

from flask import Flask


def register_admin(app: Flask) -> None:
    from app.admin.views import admin

    app.register_blueprint(admin)
