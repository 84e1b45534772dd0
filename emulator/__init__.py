"""A local emulator of Azure Communication Services Call Automation that speaks the real wire protocol.

Layers (Azurite-like): `config` (every default), `routes` (HTTP parsing and dispatch only) over
`service` (call behaviour: timers, scripts, media) built from the pure parts `calls` (state machine),
`media` (play durations, DTMF collection), `callees` (scripts), `identifiers`, `bodies` (request validation),
`auth` (HMAC), `repeatability`; `callbacks` signs and delivers events; `control` is the test API.
"""
