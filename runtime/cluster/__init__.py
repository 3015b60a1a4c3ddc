"""The edge cluster over ZeroMQ (paper §III-A, §III-D): client, inference servers and the master scheduler.

Modules: ``protocol`` (the wire format and its validation), ``transport`` (sockets, timeouts, LINGER, HWM,
CURVE + ZAP), ``server``, ``master``, ``client`` (the roles), ``aggregate`` (pure: patch results → one result
per frame), ``local`` (``--cluster local:N`` on loopback), ``summary`` (run statistics), ``config``
(``cluster.yaml``). The command line is :mod:`runtime.cli.run` (``paraloupe-run``).
"""
