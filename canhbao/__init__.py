"""canhbao: flood warnings and the 1900 1075 rescue hotline for a province's disaster office."""

__version__ = "0.1.0"
