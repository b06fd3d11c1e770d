"""The simulated packing site of the demo: two test-pattern cameras and a mock metal detector."""

from __future__ import annotations

from pathlib import Path

SITE, DEVICE = "demo-site", "edge01"

EDGE_CONFIG = """\
# Simulated site written by `reeferwatch demo`.
[site]
id = "{site}"
device = "{device}"
location_code = "370200-DEMO-01"
registration_no = "3700/02001"
signing_key_file = "{bundle}/signing.key"

[storage]
data_dir = "{data_dir}"

[mqtt]                           # TLS with the enrolled bundle, as on a real box
host = "127.0.0.1"
port = {mqtt_port}
ca_file = "{bundle}/ca.pem"
cert_file = "{bundle}/device.pem"
key_file = "{bundle}/device.key"

[recording]
segment_seconds = 10

[[cameras]]
id = "dock1"
source = "testsrc"
width = 640
height = 360
fps = 15

[[cameras]]
id = "dock2"
source = "testsrc"
width = 640
height = 360
fps = 15

[clips]
pre_seconds = 10
post_seconds = 10

[gpio]
backend = "mock"

[[gpio.inputs]]
name = "line1_metal_detector"
pin = 17
kind = "metal_detector_reject"
active_high = false

[gpio.simulation]
pulse_input = "line1_metal_detector"
every_seconds = {every_seconds}
"""


def write_edge_config(
    path: Path, data_dir: Path, mqtt_port: int, every_seconds: int, bundle: Path
) -> Path:
    """The simulated box's edge.toml, using the enrolled ``bundle`` (TLS and signing keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        EDGE_CONFIG.format(
            site=SITE,
            device=DEVICE,
            bundle=bundle,
            data_dir=data_dir,
            mqtt_port=mqtt_port,
            every_seconds=every_seconds,
        )
    )
    return path
