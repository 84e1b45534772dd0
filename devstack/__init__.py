"""The whole local stack for `make run`: Azurite, the ACS emulator, a demo event subscriber and the app."""
