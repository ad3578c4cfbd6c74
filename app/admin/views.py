"""/admin: provider settings, the web chat widget and the team, for a tenant's admins.

Server-rendered forms over the same services the API uses (settings, webchat, team); each view
reads its form, calls one service, and renders or redirects. Staff who are not admins get 403.
"""

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from app.admin import forms
from app.admin.session import check_csrf, csrf_token, load_user, sign_in, sign_out
from app.errors import DomainError
from app.extensions import limiter
from app.services import accounts, settings, team, webchat

admin = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
PUBLIC = {"admin.login", "admin.login_form"}
# The pages' own inline style and one small inline script (copy the snippet); nothing from elsewhere.
CSP = (
    "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'"
)


@admin.before_request
def guard():
    check_csrf()
    user = load_user()
    if request.endpoint in PUBLIC:
        return None
    if user is None:
        return redirect(url_for("admin.login_form", next=request.path))
    if user.role != "admin":
        return render_template(
            "admin/error.html", title="Admins only", message="Only an admin can change settings."
        ), 403
    return None


@admin.after_request
def no_store(response):
    # Settings pages must not be cached by the browser or a proxy, nor framed by another site.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@admin.errorhandler(HTTPException)
def http_error(error):
    return render_template("admin/error.html", title=error.name, message=error.description), error.code


@admin.app_context_processor
def template_helpers():
    return {"csrf_token": csrf_token}


@admin.get("/login")
def login_form():
    return render_template("admin/login.html", next=request.args.get("next", ""))


@admin.post("/login")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def login():
    tenant_id = request.form.get("tenant_id", "").strip()
    try:
        user = accounts.check_credentials(
            request.form.get("email", ""),
            request.form.get("password", ""),
            tenant_id=int(tenant_id) if tenant_id.isdigit() else None,
        )
    except DomainError as error:
        return render_template(
            "admin/login.html", error=error.message, email=request.form.get("email", "")
        ), error.status
    sign_in(user)
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/admin") and not target.startswith("//") else url_for("admin.index"))


@admin.post("/logout")
def logout():
    sign_out()
    return redirect(url_for("admin.login_form"))


# --- messaging provider ----------------------------------------------------------------------------


@admin.get("/")
def index():
    return render_template("admin/messaging.html", settings=settings.messaging_settings(g.tenant))


@admin.post("/messaging")
def save_messaging():
    try:
        changes = forms.messaging_changes(request.form)
        settings.update_messaging_settings(g.tenant, changes, verify=bool(request.form.get("verify")))
    except DomainError as error:
        return _messaging_error(error)
    flash("Messaging settings saved.")
    return redirect(url_for("admin.index"))


@admin.post("/messaging/test")
def test_messaging():
    """Check the stored credentials with the provider (the settings service verifies, changes nothing)."""
    try:
        settings.update_messaging_settings(g.tenant, {}, verify=True)
    except DomainError as error:
        return _messaging_error(error)
    provider = g.tenant.sms_provider
    flash(f"Connected: {provider} accepted the credentials." if provider else "No provider chosen: web chat only.")
    return redirect(url_for("admin.index"))


def _messaging_error(error: DomainError):
    page = render_template(
        "admin/messaging.html", settings=settings.messaging_settings(g.tenant), error=error.message, fields=error.fields
    )
    return page, error.status


# --- the web chat widget -----------------------------------------------------------------------------


@admin.get("/widget")
def widget():
    return _widget_page()


@admin.post("/widget")
def save_widget():
    try:
        webchat.update_widget_settings(g.tenant, forms.widget_changes(request.form))
    except DomainError as error:
        return _widget_page(error=error.message, fields=error.fields, status=error.status)
    flash("Widget settings saved.")
    return redirect(url_for("admin.widget"))


@admin.post("/widget/rotate-key")
def rotate_widget_key():
    webchat.rotate_widget_key(g.tenant)
    flash("A new widget key is in use: update the snippet on your website.")
    return redirect(url_for("admin.widget"))


def _widget_page(status: int = 200, **extra):
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    widget_settings = webchat.widget_settings(g.tenant)
    snippet = f'<script src="{base}/widget.js" data-key="{widget_settings["widget_key"]}" async></script>'
    return render_template("admin/widget.html", widget=widget_settings, snippet=snippet, **extra), status


# --- the team ------------------------------------------------------------------------------------------


@admin.get("/users")
def users():
    return _users_page()


@admin.post("/users")
def invite_user():
    form = request.form
    try:
        user, password = team.invite(
            g.tenant, email=form.get("email", ""), name=form.get("name", ""), role=form.get("role", "staff")
        )
    except DomainError as error:
        return _users_page(error=error.message, status=error.status)
    # Rendered, not flashed: the one-time password must not travel in the (signed, readable) cookie.
    return _users_page(invited=user, password=password)


@admin.post("/users/<id:user_id>/role")
def change_role(user_id):
    try:
        team.set_role(g.tenant, user_id, request.form.get("role", ""))
    except DomainError as error:
        return _users_page(error=error.message, status=error.status)
    flash("Role changed.")
    return redirect(url_for("admin.users"))


@admin.post("/users/<id:user_id>/remove")
def remove_user(user_id):
    try:
        team.remove(g.tenant, user_id, acting_user=g.user)
    except DomainError as error:
        return _users_page(error=error.message, status=error.status)
    flash("User removed.")
    return redirect(url_for("admin.users"))


def _users_page(status: int = 200, **extra):
    return render_template("admin/users.html", users=accounts.list_users(g.tenant), **extra), status
