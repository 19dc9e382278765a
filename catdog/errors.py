"""The one exception type for mistakes a user can make.

Its message always says what to do; every front end (CLI, dashboard) shows the message, not a
traceback.
"""


class CatdogError(ValueError):
    """A problem the user can fix; the message says how."""
