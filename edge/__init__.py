"""The ReeferWatch edge appliance (DESIGN §4).

What lives where:

- ``config``   TOML → pydantic models (``extra="forbid"``); ``load_config`` raises ``ConfigError``.
- ``store``    the SQLite store (WAL): segments, events, clips and the outbox.
- ``migrations`` numbered schema migrations (``PRAGMA user_version``).
- ``rows``     typed rows (Segment, Event, Clip, OutboxItem) read from the store.
- ``timeutil`` local wall-clock time with offset, file-name stamps, ISO parsing.
- ``procs``    child processes that die with their parent (PR_SET_PDEATHSIG) and stop on close.
- ``ffmpeg``   ffmpeg/ffprobe command builders and probes (duration, codec, metadata).
- ``sources``  camera sources (testsrc, rtsp, onvif, picamera2) behind one interface; creds.
- ``recorder`` per-camera segmenter ffmpeg fed by its source; back-off, offline faults.
- ``segments`` closed segment → probe/quarantine, creation_time, fsync, sha256, index, gaps.
- ``mp4meta``  patch each segment's own ``creation_time`` into its MP4 boxes.
- ``gaps``     the ``gaps`` table (offline, restart, quarantined) and per-camera source state.
- ``clips``    ``cut_window``: cut ``[start, end]`` from indexed segments with stream copy.
- ``events``   ``record_event`` (SQLite first, then outbox) and event priorities.
- ``clipworker`` the thread that turns events with a pending clip into clip files + outbox items.
- ``gpio``     inputs → events (software debounce, minimum pulse); the demo's mock-pin simulation.
- ``pins``     (package) pin backends behind one interface: gpiozero native/mock, Jetson.GPIO.
- ``panel``    (package) status LEDs and buttons: state machine, patterns, LED player, buttons.
- ``iso6346``  container numbers: format and check digit.
- ``sessions`` loading sessions (start/stop/toggle/active), committed with their events.
- ``sessionclips`` cuts an ended session's cameras start..end into pieces.
- ``commands`` ``down/cmd`` handling: once per id, expiry, dispatch to the modules below.
- ``windowclips`` ``upload_window``: checked and queued at once, cut later by the clip worker.
- ``liveconfig`` ``config_refresh``: re-read the TOML file, apply uplink/health live.
- ``selftest`` the installer's checks behind ``reeferwatch-edge selftest``.
- ``clock``    whether the kernel clock is synchronised (``adjtimex``).
- ``faults``   the fault registry: persisted, deduplicated, every raise/clear an event.
- ``retention`` the disk ring buffer: quota, pinned segments, holds, ``storage_critical``.
- ``health``   (package) camera image checks, device checks, ``up/health`` messages.
- ``transfer`` per-file transfer state: which chunks to send next, acked ranges.
- ``filesync`` drives outbox files through init → chunks → fin and applies ``FileAck``s.
- ``sync``     MQTT client: status/will, outbox drain, ``down/ack`` and command dispatch.
- ``worker``   the periodic background thread shared by the clip worker, health and retention.
- ``liveness`` heartbeats of every worker thread; the watchdog ping only while all are alive.
- ``bundle``   the enrollment bundle on the boot partition: read, check, merge the configuration.
- ``provision`` first boot: install the bundle into /etc/reeferwatch, erase it, leave a marker.
- ``app``      wires the parts of ``run`` together with clean shutdown.
- ``cli``      ``reeferwatch-edge`` console script: ``run``, ``trigger``, ``status``, ``selftest``,
  ``identity``, ``provision``.
"""
