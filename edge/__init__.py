"""The ReeferWatch edge appliance (DESIGN §4).

What lives where:

- ``config``   TOML → pydantic models (``extra="forbid"``); ``load_config`` raises ``ConfigError``.
- ``store``    the SQLite store (WAL): segments, events, clips and the outbox.
- ``migrations`` numbered schema migrations (``PRAGMA user_version``).
- ``rows``     typed rows (Segment, Event, Clip, OutboxItem) read from the store.
- ``timeutil`` local wall-clock time with offset, file-name stamps, ISO parsing.
- ``procs``    child processes that die with their parent (PR_SET_PDEATHSIG) and stop on close.
- ``ffmpeg``   ffmpeg/ffprobe command builders and probes (duration, codec, metadata).
- ``recorder`` per-camera source + segmenter ffmpeg pair, supervisor that indexes segments.
- ``clips``    ``cut_window``: cut ``[start, end]`` from indexed segments with stream copy.
- ``events``   ``record_event`` (SQLite first, then outbox) and event priorities.
- ``clipworker`` the thread that turns events with a pending clip into clip files + outbox items.
- ``gpio``     gpiozero inputs → events; the mock-pin simulation used by the demo.
- ``clock``    whether the kernel clock is synchronised (``adjtimex``).
- ``faults``   the fault registry: persisted, deduplicated, every raise/clear an event.
- ``retention`` the disk ring buffer: quota, pinned segments, holds, ``storage_critical``.
- ``health``   (package) camera image checks, device checks, ``up/health`` messages.
- ``transfer`` per-file transfer state: which chunks to send next, acked ranges.
- ``sync``     MQTT client: status/will, outbox drain, file transfer, ``down/ack`` handling.
- ``app``      wires the parts of ``run`` together with clean shutdown.
- ``cli``      ``reeferwatch-edge`` console script: ``run``, ``trigger``, ``status``.
"""
