"""The application factory."""

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.log_format import configure_logging
from app.startup import check_configuration
from config import Config, engine_options


def create_app(config: object | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)  # an API: nothing to serve from app/static
    app.config.from_object(config or Config())
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    check_configuration(app.config)  # production without real keys stops here, saying how to make them
    if hops := app.config["PROXY_HOPS"]:
        # Behind Heroku's router or another proxy: the client's address, scheme and host (Twilio signs those).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    app.json.sort_keys = False
    configure_logging(app.config["LOG_LEVEL"])

    from app import live, models  # noqa: F401  (every table registered before migrate/autogenerate)
    from app.admin import register_admin
    from app.api import register_api
    from app.celery import celery_init_app
    from app.cli import register_cli
    from app.db_connections import cache_long_statements, ping_when_idle, reads_outside_transactions
    from app.errors import register_error_handlers
    from app.extensions import db, limiter, migrate
    from app.health import health
    from app.request_limits import register_request_limits
    from app.services.unit_of_work import in_use_case
    from app.webhooks import register_webhooks
    from app.widget import register_widget

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with app.app_context():
            ping_when_idle(db.engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
            reads_outside_transactions(db.engine, in_use_case=in_use_case)
        cache_long_statements()
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    register_request_limits(app)  # before the limiter and the blueprints: nothing reads a body it refuses
    limiter.init_app(app)
    register_api(app)
    app.register_blueprint(health)
    register_webhooks(app)
    register_widget(app)
    register_admin(app)
    live.init_app(app)
    register_error_handlers(app)  # after the API, so our JSON envelope wins over flask-smorest's
    register_cli(app)
    celery_init_app(app)
    return app
