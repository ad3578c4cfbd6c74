"""One log line per event, with the ids passed in `extra` appended as key=value pairs.

The code logs stable dotted keys (`webhook.twilio.bad-signature`) with ids in `extra`; the
default formatter drops `extra`, which would leave operators without the tenant or message id.
"""

import logging

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        return line


def configure_logging(level: str | int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(isinstance(handler.formatter, KeyValueFormatter) for handler in root.handlers):
        return  # create_app() can run more than once in a process (tests, CLI)
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin, every start
    # The twilio package logs every request at INFO, account SID and headers included: never ours to print.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
