"""The errors the library raises; only cli.py turns them into click exceptions."""


class TrailscopeError(Exception):
    """Base class: a problem the user can act on, with a message that says what to do."""


class UnknownQuery(TrailscopeError):
    """No query module of that name."""


class MissingParameter(TrailscopeError):
    """A query module was run without one of its declared parameters."""


class UnknownParameter(TrailscopeError):
    """A query module was given a parameter it does not declare."""


class BadSource(TrailscopeError):
    """A path or URL given to ingest cannot be read at all."""


class DatabaseError(TrailscopeError):
    """The database cannot be opened or is not a trailscope database."""
