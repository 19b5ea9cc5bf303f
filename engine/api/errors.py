"""The single error type the API raises for bad input."""


class ApiError(ValueError):
    """Bad input to an API operation; the message is meant for the user as it is."""
