"""Provider webhooks: each blueprint verifies its provider's signature before anything is stored."""

from flask import Flask


def register_webhooks(app: Flask) -> None:
    from app.webhooks import ghl, twilio, twilio_calls

    app.register_blueprint(twilio.bp)
    app.register_blueprint(twilio_calls.bp)  # its routes are more specific than twilio.bp's catch-all
    app.register_blueprint(ghl.bp)
