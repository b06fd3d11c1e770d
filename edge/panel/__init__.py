"""The status panel (DESIGN §4 "Panel"): status LEDs and push buttons.

- ``state``    pure: panel inputs (recording, backlog, broker, faults, loading …) → the one
  display state; the most severe wins; fault names → red blink codes.
- ``patterns`` pure: display state + the set of wired colours → the LED pattern (fallbacks
  when only some LEDs are wired).
- ``leds``     gpiozero ``LED`` objects played by one small thread; ``close()`` turns them off.
- ``buttons``  gpiozero ``Button`` objects: short press → action, hold → self-test.
- ``panel``    the panel thread of ``run``: polls its sources about 4×/s, drives the LEDs
  only when the state changes, runs button actions and the self-test.
- ``notice``   the "not provisioned" code, shown by ``provision --signal`` before any edge runs.

Installers' reference: ``docs/panel.md``.
"""
