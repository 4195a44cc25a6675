"""The exception a stop signal raises to abandon work in progress."""


class StopRequested(BaseException):
    """Raised by a SIGTERM/SIGINT handler to abandon what is in progress (start-up, or a request in
    flight: a hung server must not delay the exit). A BaseException, so that no `except Exception`
    in an adapter swallows it."""


def raise_stop_requested(*_: object) -> None:
    raise StopRequested()
