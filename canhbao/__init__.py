"""canhbao: flood warnings and the 1900 1075 rescue hotline for a province's disaster office."""

from canhbao import logrecords

__version__ = "0.1.0"

# Before any module of ours creates its logger: no `extra=` key can break a log call.
logrecords.install()
