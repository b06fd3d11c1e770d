"""Camera and device health (DESIGN §4, Art. 17): every finding is a fault in ``edge.faults``.

What lives where:

- ``disk``     the data volume: size, free space, retention quota, bytes in use.
- ``image``    numpy metrics on a luma plane: mean, variance of the Laplacian, frame difference.
- ``frames``   PyAV: decode a few keyframes of a closed segment into luma planes.
- ``camera``   per-camera checks: frozen, dark, blurred, bitrate drop, resolution drop.
- ``device``   device checks: disk low, clock not synchronised, CPU temperature.
- ``monitor``  the health thread of ``run``: new segments → camera checks, device checks.
- ``report``   the ``up/health`` message: cameras, disk, backlog, temperature.

PyAV and numpy are imported only by ``frames``, ``image``, ``camera`` and ``monitor``.
"""
