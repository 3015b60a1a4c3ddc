"""Factory stage ``objectness``: fit the patch generator's logistic model M offline.

The work is :func:`factory.objectness.fit.fit_objectness` (a pure function returning the manifest section
``objectness``); ``python -m factory.objectness.fit`` is its command line.
"""
