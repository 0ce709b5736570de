"""The archive sink (issue 8, in progress): MDTO SIP packages on disk, for organisations without a case system,
for an archive copy beside one (fan-out), and for transfer to an e-Depot.

:mod:`.sip` writes the packages (sidecar structure, atomic per package, idempotent, pakbon per batch). The sink
class that turns a message's record and its MDTO metadata into a package joins it once the MDTO builder
(:mod:`connector.mdto`) is in; until then this package registers no sink.
"""
